//! `s3://bucket/key` inputs and outputs, through the `object_store` crate.
//!
//! Credentials, region and endpoint come from the standard AWS environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP` for a local endpoint).
//! A location file is read with ranged GETs, one per chunk, issued by every
//! scanning thread at once, so a shard reads only its own byte range.
//! Small files (region.csv, results) are read and written whole; an S3 PUT
//! is atomic, so a result object is complete or absent, never partial.

use std::collections::HashMap;
use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{ClientConfigKey, ObjectStore};

use super::object::Object;
use crate::error::{Error, Result};

/// One runtime for every S3 call; threads block on it.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("s3-io")
            .enable_all()
            .build()
            .expect("cannot start the I/O runtime")
    })
}

/// One client per bucket, shared by every object in it.
fn bucket(name: &str) -> Result<Arc<AmazonS3>> {
    static BUCKETS: OnceLock<Mutex<HashMap<String, Arc<AmazonS3>>>> = OnceLock::new();
    let mut buckets = BUCKETS
        .get_or_init(Default::default)
        .lock()
        .expect("poisoned");
    if let Some(store) = buckets.get(name) {
        return Ok(store.clone());
    }
    let client = |key| AmazonS3ConfigKey::Client(key);
    let store = AmazonS3Builder::from_env()
        .with_bucket_name(name)
        // Fail in seconds, not minutes, when an endpoint is unreachable.
        .with_config(client(ClientConfigKey::ConnectTimeout), "10s")
        .build()
        .map_err(|e| Error::Usage(format!("s3://{name}: {}", one_line(&e.to_string()))))?;
    let store = Arc::new(store);
    buckets.insert(name.to_string(), store.clone());
    Ok(store)
}

/// `s3://bucket/key` as (bucket, key).
pub fn parse_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| Error::Usage(format!("{url}: not an s3:// URL")))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::Usage(format!("{url}: no bucket name")));
    }
    Ok((bucket.to_string(), key.to_string()))
}

/// An object_store error as one line that says what to do.
fn describe(e: &object_store::Error) -> String {
    let text = one_line(&e.to_string());
    let has = |needle: &str| text.contains(needle);
    if has("NoSuchBucket") {
        "no such bucket".into()
    } else if matches!(e, object_store::Error::NotFound { .. }) || has("NoSuchKey") {
        "no such object".into()
    } else if matches!(e, object_store::Error::PermissionDenied { .. })
        || has("AccessDenied")
        || has("403")
    {
        "access denied: check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the bucket's policy".into()
    } else if matches!(e, object_store::Error::Unauthenticated { .. }) || has("credential") {
        format!(
            "no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY ({text})"
        )
    } else {
        text
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn open_error(url: &str, e: &object_store::Error) -> Error {
    let kind = match e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        _ => io::ErrorKind::Other,
    };
    Error::Open {
        path: url.into(),
        source: io::Error::new(kind, describe(e)),
    }
}

/// An S3 object read by ranges.
pub struct S3Object {
    store: Arc<AmazonS3>,
    path: ObjectPath,
    url: String,
    len: u64,
}

impl S3Object {
    /// Looks the object up (one HEAD request) for its length.
    pub fn open(url: &str) -> Result<S3Object> {
        let (bucket_name, key) = parse_url(url)?;
        let store = bucket(&bucket_name)?;
        let path = ObjectPath::from(key);
        let meta = runtime()
            .block_on(store.head(&path))
            .map_err(|e| open_error(url, &e))?;
        Ok(S3Object {
            store,
            path,
            url: url.to_string(),
            len: meta.size,
        })
    }
}

impl Object for S3Object {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let end = (offset + buf.len() as u64).min(self.len);
        if offset >= end {
            return Ok(0);
        }
        let range: Range<u64> = offset..end;
        let bytes = runtime()
            .block_on(self.store.get_range(&self.path, range))
            .map_err(|e| io::Error::other(describe(&e)))?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    fn len(&self) -> u64 {
        self.len
    }

    fn name(&self) -> &str {
        &self.url
    }
}

/// The objects a URL names: the object itself, or with a trailing `/`
/// every object under the prefix whose name `wanted` accepts, sorted.
pub fn expand(url: &str, wanted: fn(&str) -> bool) -> Result<Vec<S3Object>> {
    if !url.ends_with('/') {
        return Ok(vec![S3Object::open(url)?]);
    }
    let (bucket_name, prefix) = parse_url(url)?;
    let store = bucket(&bucket_name)?;
    let prefix = ObjectPath::from(prefix);
    let mut found: Vec<(String, u64)> = runtime()
        .block_on(store.list(Some(&prefix)).try_collect::<Vec<_>>())
        .map_err(|e| open_error(url, &e))?
        .into_iter()
        .map(|meta| (meta.location.to_string(), meta.size))
        .filter(|(key, _)| wanted(key))
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(Error::Open {
            path: url.into(),
            source: io::Error::new(
                io::ErrorKind::NotFound,
                "no *.csv, *.csv.gz or *.csv.zst objects under this prefix",
            ),
        });
    }
    Ok(found
        .into_iter()
        .map(|(key, len)| S3Object {
            store: store.clone(),
            url: format!("s3://{bucket_name}/{key}"),
            path: ObjectPath::from(key),
            len,
        })
        .collect())
}

/// Reads a whole (small) object.
pub fn read_all(url: &str) -> Result<Vec<u8>> {
    let (bucket_name, key) = parse_url(url)?;
    let store = bucket(&bucket_name)?;
    let path = ObjectPath::from(key);
    runtime()
        .block_on(async { store.get(&path).await?.bytes().await })
        .map(|b| b.to_vec())
        .map_err(|e| open_error(url, &e))
}

/// Writes a whole object at once: it appears complete or not at all.
pub fn write_all(url: &str, bytes: Vec<u8>) -> Result<()> {
    let (bucket_name, key) = parse_url(url)?;
    let store = bucket(&bucket_name)?;
    runtime()
        .block_on(store.put(&ObjectPath::from(key), bytes.into()))
        .map(drop)
        .map_err(|e| Error::Write {
            path: url.into(),
            source: io::Error::other(describe(&e)),
        })
}

/// Deletes an object.
pub fn delete(url: &str) -> Result<()> {
    let (bucket_name, key) = parse_url(url)?;
    let store = bucket(&bucket_name)?;
    runtime()
        .block_on(store.delete(&ObjectPath::from(key)))
        .map_err(|e| Error::Write {
            path: url.into(),
            source: io::Error::other(describe(&e)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_bucket_and_key() {
        assert_eq!(
            parse_url("s3://b/k/x.csv").unwrap(),
            ("b".into(), "k/x.csv".into())
        );
        assert_eq!(parse_url("s3://b/").unwrap(), ("b".into(), "".into()));
        assert_eq!(parse_url("s3://b").unwrap(), ("b".into(), "".into()));
        assert!(parse_url("s3:///k").is_err());
        assert!(parse_url("/tmp/x").is_err());
    }
}
