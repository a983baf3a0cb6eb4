//! The options a count is a count of, as people read them. A `--state`
//! file and a shard's manifest keep each option as a (name, value) pair
//! of text, the value written as the first versions wrote it (Rust's
//! debug form: `Some(44)` for `--delimiter ,`); kept so, the states and
//! manifests of those versions still match. Their messages show them as
//! the flags that set them: `--delimiter ','`.

/// The option `name` with `value` (as a state or a manifest keeps them)
/// in the words of the command line: `--delimiter ','`, `--columns
/// region_id=zone,date=3`, `--max-bad 5 rows`. A value of an unknown
/// form is shown as it is.
pub fn option_text(name: &str, value: &str) -> String {
    let flag = format!("--{}", name.replace('_', "-"));
    let shown = match name {
        "delimiter" => match value {
            "None" => Some("sniffed from each file".to_string()),
            _ => some(value)
                .and_then(|n| n.parse::<u8>().ok())
                .map(super::delimiter_name),
        },
        "epoch" => match value {
            "None" => Some("not given".into()),
            "Some(Seconds)" => Some("s".into()),
            "Some(Millis)" => Some("ms".into()),
            _ => None,
        },
        "max_bad" | "max_unmatched" => match value {
            "None" => Some("not given".into()),
            _ => some(value).and_then(threshold),
        },
        "columns" => value
            .strip_prefix('(')
            .and_then(|v| v.strip_suffix(')'))
            .and_then(|v| columns(v, ["region_id", "date"], ", ")),
        "region_columns" => value
            .strip_prefix("RegionFormat { region_id: ")
            .and_then(|v| v.strip_suffix(" }"))
            .and_then(|v| columns(v, ["region_id", "region_name"], ", region_name: ")),
        "strict" | "no_header" | "regions_no_header" => match value {
            "true" => Some("given".into()),
            "false" => Some("not given".into()),
            _ => None,
        },
        _ => None,
    };
    format!("{flag} {}", shown.unwrap_or_else(|| value.to_string()))
}

/// The inside of `Some(...)`.
fn some(value: &str) -> Option<&str> {
    value.strip_prefix("Some(")?.strip_suffix(')')
}

/// `Rows(5)` as "5 rows", `Percent(0.5)` as "0.5%".
fn threshold(value: &str) -> Option<String> {
    if let Some(rows) = value.strip_prefix("Rows(").and_then(|v| v.strip_suffix(')')) {
        return Some(format!("{rows} rows"));
    }
    let percent = value.strip_prefix("Percent(")?.strip_suffix(')')?;
    Some(format!("{percent}%"))
}

/// Two columns, `first` then `second` written `Option<Column>`'s way and
/// parted by `between`, as `first=NAME,second=3` ("not given" for
/// neither).
fn columns(value: &str, names: [&str; 2], between: &str) -> Option<String> {
    let (first, rest) = column(value)?;
    let (second, rest) = column(rest.strip_prefix(between)?)?;
    if !rest.is_empty() {
        return None;
    }
    let given: Vec<String> = names
        .iter()
        .zip([first, second])
        .filter_map(|(name, column)| column.map(|c| format!("{name}={c}")))
        .collect();
    Some(if given.is_empty() {
        "not given".into()
    } else {
        given.join(",")
    })
}

/// One `Option<Column>` at the start of `text`, written in debug form
/// (`None`, `Some(Position(3))`, `Some(Name("zone"))`), and the text after
/// it.
fn column(text: &str) -> Option<(Option<String>, &str)> {
    if let Some(rest) = text.strip_prefix("None") {
        return Some((None, rest));
    }
    if let Some(rest) = text.strip_prefix("Some(Position(") {
        let end = rest.find("))")?;
        return Some((Some(rest[..end].to_string()), &rest[end + 2..]));
    }
    let rest = text.strip_prefix("Some(Name(\"")?;
    // The name ends at its first quote not escaped by a backslash.
    let mut name = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => name.push(chars.next()?.1),
            '"' => return Some((Some(name), rest[i + 1..].strip_prefix("))")?)),
            c => name.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{Column, RegionFormat};

    /// Each option as the identity of a count writes it (see
    /// `count/identity.rs`), read back as its flag.
    #[test]
    fn kept_options_read_as_their_flags() {
        let column = |c: Option<Column>, d: Option<Column>| format!("{:?}", (&c, &d));
        let name = |n: &str| Some(Column::Name(n.into()));
        for (name_, value, text) in [
            ("delimiter", format!("{:?}", Some(b';')), "--delimiter ';'"),
            ("delimiter", format!("{:?}", Some(b'\t')), "--delimiter tab"),
            ("delimiter", format!("{:?}", None::<u8>), "--delimiter sniffed from each file"),
            ("time_zone", "Pacific/Auckland".into(), "--time-zone Pacific/Auckland"),
            ("epoch", "Some(Millis)".into(), "--epoch ms"),
            ("max_bad", "Some(Rows(5))".into(), "--max-bad 5 rows"),
            ("max_unmatched", "Some(Percent(0.5))".into(), "--max-unmatched 0.5%"),
            ("max_bad", "None".into(), "--max-bad not given"),
            ("no_header", "true".into(), "--no-header given"),
            ("columns", column(None, None), "--columns not given"),
            (
                "columns",
                column(name("a \"b\", c"), Some(Column::Position(3))),
                "--columns region_id=a \"b\", c,date=3",
            ),
            ("columns", column(None, name("when")), "--columns date=when"),
            ("strange", "x".into(), "--strange x"),
            ("delimiter", "Some(x)".into(), "--delimiter Some(x)"),
        ] {
            assert_eq!(option_text(name_, &value), text, "{value}");
        }
        // The region columns, written as `count/identity.rs` writes them.
        let format = RegionFormat {
            region_id: Some(Column::Position(2)),
            region_name: name("Name"),
            ..RegionFormat::default()
        };
        let value = format!(
            "RegionFormat {{ region_id: {:?}, region_name: {:?} }}",
            format.region_id, format.region_name
        );
        assert_eq!(
            option_text("region_columns", &value),
            "--region-columns region_id=2,region_name=Name"
        );
    }
}
