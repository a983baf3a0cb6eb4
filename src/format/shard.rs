//! The manifest beside a shard's result ([`ShardManifest`]): what a
//! shard says of itself so that `merge` can tell a missing or foreign
//! shard, and the [`fingerprint`] of the small files it names.

/// What a shard's result says of itself, in a small JSON file beside it
/// (`part-3.csv.shard.json` for `part-3.csv`): a result file holds only
/// counts, so without it `merge` could not tell that a shard is missing,
/// or that two parts come from different counts. It is written, replaced
/// and removed together with its result (see `count`'s outputs and
/// `merge`), so it never outlives the shard it describes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardManifest {
    /// Which shard, from 0.
    pub shard: u64,
    /// Of how many.
    pub shards: u64,
    /// Bytes of every input listed, before the split: the same for every
    /// shard of one count.
    pub input_bytes: u64,
    /// What the shards of one count share: everything below.
    pub count: CountOfShard,
    /// The shard's own rows by outcome; `None` in a manifest of an older
    /// version. `merge` sums them to judge the whole count as a count
    /// judges itself: a shard may count none of its rows, the count may not.
    pub rows: Option<ShardRows>,
}

/// A shard's data rows by outcome, in its manifest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardRows {
    /// Rows counted.
    pub counted: u64,
    /// Malformed rows.
    pub malformed: u64,
    /// Rows whose region_id is not in region.csv.
    pub unmatched: u64,
}

/// What every shard of one count has in common, and two counts differ in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CountOfShard {
    /// How many inputs were listed.
    pub input_files: u64,
    /// [`fingerprint`] of every input listed, in order: where it is and its
    /// size (see [`CountOfShard::inputs`]).
    pub inputs_fingerprint: String,
    /// Every input listed, in order, when there are at most
    /// [`LISTED_INPUTS`] (else empty: 10,000 shards of 100,000 files each
    /// would make `merge` read gigabytes): where it is (a local file's
    /// path, its links followed, or a URL) and its size in bytes.
    pub inputs: Vec<(String, u64)>,
    /// [`fingerprint`] of region.csv's bytes.
    pub regions: String,
    /// The options that decide what a shard counts, or whether it may
    /// succeed, by name.
    pub options: Vec<(String, String)>,
}

/// The most inputs a shard manifest lists by name; more are only counted
/// and fingerprinted.
pub const LISTED_INPUTS: usize = 64;

impl CountOfShard {
    /// What a count of `inputs` (where each is, and its size), against
    /// region.csv of fingerprint `regions`, with `options`, is.
    pub fn new(
        inputs: Vec<(String, u64)>,
        regions: String,
        options: Vec<(String, String)>,
    ) -> CountOfShard {
        let mut all = Vec::new();
        for (name, bytes) in &inputs {
            all.extend_from_slice(name.as_bytes());
            all.push(0);
            all.extend_from_slice(bytes.to_string().as_bytes());
            all.push(b'\n');
        }
        CountOfShard {
            input_files: inputs.len() as u64,
            inputs_fingerprint: fingerprint(&all),
            inputs: if inputs.len() <= LISTED_INPUTS {
                inputs
            } else {
                Vec::new()
            },
            regions,
            options,
        }
    }
}

/// A fingerprint of a small file's bytes (64-bit FNV-1a, in hex): two
/// region.csv files with different contents differ in it (barring a
/// crafted collision), on every machine and version.
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{hash:016x}")
}

impl ShardManifest {
    /// Where the manifest of the result at `result` (a path, its links
    /// already followed, or a URL) is.
    pub fn beside(result: &str) -> String {
        format!("{result}.shard.json")
    }

    /// As JSON, with a final newline.
    pub fn to_json(&self) -> String {
        let inputs: Vec<serde_json::Value> = self
            .count
            .inputs
            .iter()
            .map(|(name, bytes)| serde_json::json!({ "name": name, "bytes": bytes }))
            .collect();
        let options: serde_json::Map<String, serde_json::Value> = self
            .count
            .options
            .iter()
            .map(|(name, value)| (name.clone(), value.clone().into()))
            .collect();
        let json = serde_json::json!({
            "shard": self.shard,
            "shards": self.shards,
            "input_bytes": self.input_bytes,
            "input_files": self.count.input_files,
            "inputs_fingerprint": self.count.inputs_fingerprint,
            "inputs": inputs,
            "regions": self.count.regions,
            "options": options,
        });
        let mut json = json;
        if let Some(rows) = &self.rows {
            json["rows"] = serde_json::json!({
                "counted": rows.counted,
                "malformed": rows.malformed,
                "unmatched": rows.unmatched,
            });
        }
        let mut text = serde_json::to_string_pretty(&json).expect("JSON of plain values");
        text.push('\n');
        text
    }

    /// Reads a manifest; the error is the reason. One of an older version
    /// (without inputs, regions and options) reads with those empty, so it
    /// merges only with others of its kind.
    pub fn parse(bytes: &[u8]) -> Result<ShardManifest, String> {
        let json: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not a shard manifest: {e}"))?;
        let bad = |name: &str| format!("not a shard manifest: no valid \"{name}\"");
        let field = |name: &str| json[name].as_u64().ok_or_else(|| bad(name));
        let inputs = match &json["inputs"] {
            serde_json::Value::Null => Vec::new(),
            value => value
                .as_array()
                .ok_or_else(|| bad("inputs"))?
                .iter()
                .map(
                    |input| match (input["name"].as_str(), input["bytes"].as_u64()) {
                        (Some(name), Some(bytes)) => Ok((name.to_string(), bytes)),
                        _ => Err(bad("inputs")),
                    },
                )
                .collect::<Result<_, _>>()?,
        };
        let text = |name: &str| match &json[name] {
            serde_json::Value::Null => Ok(String::new()),
            value => value.as_str().map(str::to_string).ok_or_else(|| bad(name)),
        };
        let input_files = match &json["input_files"] {
            serde_json::Value::Null => inputs.len() as u64,
            _ => field("input_files")?,
        };
        let options = match &json["options"] {
            serde_json::Value::Null => Vec::new(),
            value => value
                .as_object()
                .ok_or_else(|| bad("options"))?
                .iter()
                .map(|(name, value)| match value.as_str() {
                    Some(text) => Ok((name.clone(), text.to_string())),
                    None => Err(bad("options")),
                })
                .collect::<Result<_, _>>()?,
        };
        let rows = match &json["rows"] {
            serde_json::Value::Null => None,
            rows => {
                let of = |name: &str| rows[name].as_u64().ok_or_else(|| bad("rows"));
                Some(ShardRows {
                    counted: of("counted")?,
                    malformed: of("malformed")?,
                    unmatched: of("unmatched")?,
                })
            }
        };
        let manifest = ShardManifest {
            shard: field("shard")?,
            shards: field("shards")?,
            input_bytes: field("input_bytes")?,
            rows,
            count: CountOfShard {
                input_files,
                inputs_fingerprint: text("inputs_fingerprint")?,
                inputs,
                regions: text("regions")?,
                options,
            },
        };
        if manifest.shard >= manifest.shards {
            return Err(format!(
                "shard {} of {}: no such shard",
                manifest.shard, manifest.shards
            ));
        }
        Ok(manifest)
    }

    /// How `other` is a part of a different count than this one, in words
    /// (`None`: the same count).
    pub fn difference(&self, other: &ShardManifest) -> Option<String> {
        if self.shards != other.shards {
            return Some(format!("{} shards against {}", self.shards, other.shards));
        }
        if self.input_bytes != other.input_bytes {
            return Some(format!(
                "inputs of {} bytes against {} bytes",
                self.input_bytes, other.input_bytes
            ));
        }
        let (mine, theirs) = (&self.count, &other.count);
        if mine.inputs_fingerprint.is_empty() != theirs.inputs_fingerprint.is_empty() {
            return Some(
                "one manifest is of an older version, which names no inputs, region.csv or \
                 options"
                    .into(),
            );
        }
        if mine.input_files != theirs.input_files {
            return Some(format!(
                "{} inputs against {}",
                mine.input_files, theirs.input_files
            ));
        }
        if (&mine.inputs_fingerprint, &mine.inputs) != (&theirs.inputs_fingerprint, &theirs.inputs)
        {
            let differs = mine
                .inputs
                .iter()
                .zip(&theirs.inputs)
                .position(|(a, b)| a != b);
            return Some(match differs {
                Some(i) => format!(
                    "input {} is {} ({} bytes) against {} ({} bytes)",
                    i + 1,
                    mine.inputs[i].0,
                    mine.inputs[i].1,
                    theirs.inputs[i].0,
                    theirs.inputs[i].1
                ),
                // Too many to list: only their fingerprints differ.
                None => format!(
                    "inputs of different names or sizes ({} against {})",
                    show(&mine.inputs_fingerprint),
                    show(&theirs.inputs_fingerprint)
                ),
            });
        }
        if mine.regions != theirs.regions {
            return Some(format!(
                "region.csv files of different contents ({} against {})",
                show(&mine.regions),
                show(&theirs.regions)
            ));
        }
        if mine.options != theirs.options {
            // Only the options that differ, as their flags.
            fn value<'o>(options: &'o [(String, String)], name: &str) -> Option<&'o String> {
                options.iter().find(|(n, _)| n == name).map(|(_, v)| v)
            }
            let shown = |name: &str, value: Option<&String>| {
                value.map_or("nothing".into(), |v| super::option_text(name, v))
            };
            let mut differ: Vec<String> = Vec::new();
            let mut seen: Vec<&str> = Vec::new();
            for (name, _) in mine.options.iter().chain(&theirs.options) {
                let (a, b) = (value(&mine.options, name), value(&theirs.options, name));
                if !seen.contains(&name.as_str()) && a != b {
                    differ.push(format!("{} against {}", shown(name, a), shown(name, b)));
                }
                seen.push(name);
            }
            return Some(format!("options {}", differ.join("; ")));
        }
        None
    }
}

/// A field of an older manifest is empty: say so.
fn show(text: &str) -> &str {
    if text.is_empty() {
        "none recorded"
    } else {
        text
    }
}
