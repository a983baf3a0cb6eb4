//! Tests of the state file's encoding.

use super::*;

#[test]
fn a_state_reads_back_and_a_damaged_one_is_refused() {
    let state = State {
        regions: (12, 34),
        options: vec![("time_zone".into(), "UTC".into())],
        rejects: Some((7, 8)),
        entries: vec![Entry {
            key: Key::Local { dev: 1, ino: 2 },
            name: "a.csv".into(),
            compressed: false,
            size: 100,
            end: 90,
            lines: 4,
            head: 5,
            tail: 6,
            e_tag: "\"abc\"".into(),
        }],
        totals: Totals::of([
            totals::Group {
                slot: 3,
                day: -4,
                total: 1 << 40,
            },
            totals::Group {
                slot: 1,
                day: 70_000,
                total: 1,
            },
            totals::Group {
                slot: 9,
                day: 70_000,
                total: 300,
            },
        ]),
    };
    let bytes = state.encode();
    let back = State::decode(bytes.clone()).unwrap();
    assert_eq!(back.encode(), bytes);
    assert_eq!(back.totals.blocks(), state.totals.blocks());
    assert_eq!(
        (back.totals.groups, back.totals.days),
        (state.totals.groups, state.totals.days)
    );
    assert_eq!((back.entries[0].end, back.entries[0].lines), (90, 4));
    assert_eq!(back.rejects, Some((7, 8)));
    let mut damaged = bytes.clone();
    *damaged.last_mut().unwrap() ^= 1;
    assert!(State::decode(damaged).unwrap_err().contains("checksum"));
    assert!(State::decode(bytes[..bytes.len() - 1].to_vec()).is_err());
    assert!(State::decode(b"region_id,region_name\n".to_vec()).is_err());
}
