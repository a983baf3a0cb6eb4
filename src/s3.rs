//! `s3://bucket/key` inputs and outputs, through the `object_store` crate
//! (the `s3` cargo feature).
//!
//! Credentials, region and endpoint come from the standard AWS environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP` for a local endpoint).
//! A location file is read with ranged GETs, one per chunk, issued by every
//! scanning thread at once, so a shard reads only its own byte range.
//! Outputs are streamed as multipart uploads ([`S3Upload`]): nothing is
//! visible at the key until the upload completes, and a failed run aborts
//! it, so an object is complete or absent, never partial.

use std::collections::HashMap;
use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{ClientConfigKey, ObjectStore};

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

/// The object_store path of an S3 key, its characters as written: a key's
/// empty segments are dropped, as the store resolves them (`a//b` is
/// `a/b`). `ObjectPath::from` percent-encoded what object_store deems
/// unsafe, so `é.csv` was read and written as the key `%C3%A9.csv` (and
/// `~`, `%`, `#` mangled likewise); what object_store cannot carry at all
/// (a `.` or `..` segment, control characters) is refused, naming the key,
/// rather than reaching another one.
fn object_path(url: &str, key: &str) -> Result<ObjectPath> {
    let segments: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
    ObjectPath::parse(segments.join("/")).map_err(|e| {
        Error::Usage(format!(
            "{url}: a key this tool cannot address ({}); rename the object",
            one_line(&e.to_string())
        ))
    })
}

/// An object_store error as one line that says what to do. The kind comes
/// from the HTTP status (object_store's variants), never from the text
/// alone, which holds the URL: a key named `part-403.csv` is no denial.
fn describe(e: &object_store::Error) -> String {
    let text = one_line(&e.to_string());
    match e {
        // S3 answers 404 for a missing bucket too; its error code says which.
        object_store::Error::NotFound { .. } if text.contains("<Code>NoSuchBucket</Code>") => {
            "no such bucket".into()
        }
        object_store::Error::NotFound { .. } => "no such object".into(),
        object_store::Error::PermissionDenied { .. } => "access denied: check the credentials \
            (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the bucket's policy"
            .into(),
        object_store::Error::Unauthenticated { .. } => no_credentials(&text),
        // Without keys in the environment, credentials are asked of the
        // instance (EC2) or container (ECS) metadata service; its failure
        // names its own fixed address, never a user's.
        object_store::Error::Generic { .. }
            if ["169.254.169.254", "169.254.170.2", "fd00:ec2::254"]
                .iter()
                .any(|metadata| text.contains(metadata)) =>
        {
            no_credentials(&text)
        }
        _ => text,
    }
}

fn no_credentials(text: &str) -> String {
    format!(
        "no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
         or run where an instance or task role provides them ({text})"
    )
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
    /// Its ETag as the store gave it, which changes whenever its bytes are
    /// rewritten, even to the same size.
    e_tag: Option<String>,
}

impl S3Object {
    /// Looks the object up (one HEAD request) for its length.
    pub fn open(url: &str) -> Result<S3Object> {
        let (bucket_name, key) = parse_url(url)?;
        let store = bucket(&bucket_name)?;
        let path = object_path(url, &key)?;
        let meta = runtime().block_on(store.head(&path)).map_err(|e| {
            // The answer to a HEAD has no body, so a 404 cannot say whether
            // the bucket or the object is missing; a GET's error can.
            if let object_store::Error::NotFound { .. } = e {
                if let Err(get) = runtime().block_on(store.get(&path)) {
                    return open_error(url, &get);
                }
            }
            open_error(url, &e)
        })?;
        Ok(S3Object {
            store,
            path,
            url: url.to_string(),
            len: meta.size,
            e_tag: meta.e_tag,
        })
    }
}

impl S3Object {
    /// Reads up to `buf.len()` bytes from `offset` with one ranged GET.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let end = (offset + buf.len() as u64).min(self.len);
        if offset >= end {
            return Ok(0);
        }
        let range: Range<u64> = offset..end;
        // Every range of the object as it was opened: a GET pinned to its
        // ETag fails once it is replaced, where unpinned GETs counted a mix
        // of the two versions and exited 0.
        let options = object_store::GetOptions {
            range: Some(object_store::GetRange::Bounded(range)),
            if_match: self.e_tag.clone(),
            ..Default::default()
        };
        let bytes = runtime()
            .block_on(async {
                let got = self.store.get_opts(&self.path, options).await?;
                got.bytes().await
            })
            .map_err(|e| match e {
                object_store::Error::Precondition { .. } => io::Error::other(
                    "the object was replaced while it was read (its ETag changed): count it \
                     again once it is written",
                ),
                e => io::Error::other(describe(&e)),
            })?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    /// Its size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Its URL.
    pub fn name(&self) -> &str {
        &self.url
    }

    /// Its ETag, if the store gave one.
    pub fn e_tag(&self) -> Option<&str> {
        self.e_tag.as_deref()
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
    let prefix = object_path(url, &prefix)?;
    // Each object by the path the listing gives, as it is: made again from
    // its text, a key with `é` was another key.
    let mut found: Vec<(String, ObjectPath, u64, Option<String>)> = runtime()
        .block_on(store.list(Some(&prefix)).try_collect::<Vec<_>>())
        .map_err(|e| open_error(url, &e))?
        .into_iter()
        .map(|meta| (meta.location.to_string(), meta.location, meta.size, meta.e_tag))
        .filter(|(key, _, _, _)| wanted(key))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
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
        .map(|(key, path, len, e_tag)| S3Object {
            store: store.clone(),
            url: format!("s3://{bucket_name}/{key}"),
            path,
            len,
            e_tag,
        })
        .collect())
}

/// Reads a whole (small) object, or `None` if it is larger than `limit`.
pub fn read_all(url: &str, limit: u64) -> Result<Option<Vec<u8>>> {
    let (bucket_name, key) = parse_url(url)?;
    let store = bucket(&bucket_name)?;
    let path = object_path(url, &key)?;
    runtime()
        .block_on(async {
            let object = store.get(&path).await?;
            if object.meta.size > limit {
                return Ok(None);
            }
            object.bytes().await.map(|b| Some(b.to_vec()))
        })
        .map_err(|e| open_error(url, &e))
}

/// A small object read whole, with its ETag (the version a conditional
/// put names); `None` when there is no object at `url`.
pub fn read_versioned(url: &str) -> Result<Option<(Vec<u8>, Option<String>)>> {
    let (bucket_name, key) = parse_url(url)?;
    let store = bucket(&bucket_name)?;
    let path = object_path(url, &key)?;
    runtime()
        .block_on(async {
            match store.get(&path).await {
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
                Ok(object) => {
                    let e_tag = object.meta.e_tag.clone();
                    let bytes = object.bytes().await?;
                    Ok(Some((bytes.to_vec(), e_tag)))
                }
            }
        })
        .map_err(|e| open_error(url, &e))
}

/// Puts `bytes` at `url` only if the object there is still the one read:
/// of ETag `e_tag`, or none at all (`None`). S3 has no lock: of two writers
/// that read the same version, the second fails here instead of putting
/// its object over the first's.
pub fn put_if_unchanged(url: &str, bytes: Vec<u8>, e_tag: Option<&str>) -> Result<()> {
    use object_store::{PutMode, PutOptions, UpdateVersion};
    let (bucket_name, key) = parse_url(url)?;
    let store = bucket(&bucket_name)?;
    let mode = match e_tag {
        None => PutMode::Create,
        Some(e_tag) => PutMode::Update(UpdateVersion {
            e_tag: Some(e_tag.to_string()),
            version: None,
        }),
    };
    let options = PutOptions {
        mode,
        ..Default::default()
    };
    runtime()
        .block_on(store.put_opts(&object_path(url, &key)?, bytes.into(), options))
        .map(drop)
        .map_err(|e| match e {
            object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. } => Error::Usage(format!(
                "{url}: another count wrote this object since this run read it; \
                     nothing of this run was kept where it could be put back: run again"
            )),
            e => write_error(url, &e),
        })
}

/// Parts uploaded at once by one [`S3Upload`]: enough to keep a network
/// link busy, while memory stays at this many parts.
const PARTS_IN_FLIGHT: usize = 8;

/// An object being written as a multipart upload: written as it goes, in
/// parts of 5 MiB (S3's smallest), so memory stays flat whatever its size.
/// It appears at its key only on [`S3Upload::finish`]; dropped unfinished,
/// the upload is aborted and nothing appears.
pub struct S3Upload {
    url: String,
    writer: Option<object_store::WriteMultipart>,
}

impl S3Upload {
    /// Starts the upload, which also proves the bucket exists and the
    /// credentials may write to it.
    pub fn start(url: &str) -> Result<S3Upload> {
        let (bucket_name, key) = parse_url(url)?;
        let store = bucket(&bucket_name)?;
        let upload = runtime()
            .block_on(store.put_multipart(&object_path(url, &key)?))
            .map_err(|e| write_error(url, &e))?;
        OPEN_UPLOADS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(S3Upload {
            url: url.to_string(),
            writer: Some(object_store::WriteMultipart::new(upload)),
        })
    }

    /// Completes the upload: the object appears, whole.
    pub fn finish(mut self) -> Result<()> {
        let writer = self.writer.take().expect("finished once");
        runtime()
            .block_on(writer.finish())
            .map(drop)
            .map_err(|e| write_error(&self.url, &e))
    }
}

impl io::Write for S3Upload {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let writer = self.writer.as_mut().expect("not finished");
        let runtime = runtime();
        // `write` spawns part uploads on the runtime it is entered in.
        let _entered = runtime.enter();
        runtime
            .block_on(writer.wait_for_capacity(PARTS_IN_FLIGHT))
            .map_err(|e| io::Error::other(describe(&e)))?;
        writer.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for S3Upload {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            // Best effort: an upload left open is invisible, but its parts
            // are billed until a lifecycle rule removes them.
            let _ = runtime().block_on(writer.abort());
        }
        OPEN_UPLOADS.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Uploads started and not yet completed or aborted.
static OPEN_UPLOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many uploads are open: a signal handler waits for them to be
/// aborted (see [`CancelToken`](crate::CancelToken)) before the process exits.
pub fn open_uploads() -> usize {
    OPEN_UPLOADS.load(std::sync::atomic::Ordering::SeqCst)
}

fn write_error(url: &str, e: &object_store::Error) -> Error {
    Error::Write {
        path: url.into(),
        source: io::Error::other(describe(e)),
    }
}

/// Deletes an object.
pub fn delete(url: &str) -> Result<()> {
    let (bucket_name, key) = parse_url(url)?;
    let store = bucket(&bucket_name)?;
    runtime()
        .block_on(store.delete(&object_path(url, &key)?))
        .map_err(|e| write_error(url, &e))
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
