//! `s3://` URLs in a build without the `s3` feature: every use is a clear
//! error that says what the build lacks, with the same interface as
//! `s3.rs`, so no caller needs to know.

use std::io;

use crate::error::{Error, Result};

fn not_built(url: &str) -> Error {
    Error::NotBuilt(format!(
        "{url}: this build of event-counter cannot read or write S3 (built without the s3 feature)"
    ))
}

/// An S3 object; none can exist in this build.
pub enum S3Object {}

impl S3Object {
    /// Fails: no S3 in this build.
    pub fn open(url: &str) -> Result<S3Object> {
        Err(not_built(url))
    }

    /// Never called: no object exists.
    pub fn read_at(&self, _buf: &mut [u8], _offset: u64) -> io::Result<usize> {
        match *self {}
    }

    /// Never called: no object exists.
    pub fn len(&self) -> u64 {
        match *self {}
    }

    /// Never called: no object exists.
    pub fn name(&self) -> &str {
        match *self {}
    }

    /// Never called: no object exists.
    pub fn e_tag(&self) -> Option<&str> {
        match *self {}
    }
}

/// Fails: no S3 in this build.
pub fn expand(url: &str, _wanted: fn(&str) -> bool) -> Result<Vec<S3Object>> {
    Err(not_built(url))
}

/// Fails: no S3 in this build.
pub fn read_all(url: &str, _limit: u64) -> Result<Option<Vec<u8>>> {
    Err(not_built(url))
}

/// Fails: no S3 in this build.
pub fn read_versioned(url: &str) -> Result<Option<(Vec<u8>, Option<String>)>> {
    Err(not_built(url))
}

/// Fails: no S3 in this build.
pub fn put_if_unchanged(url: &str, _bytes: Vec<u8>, _e_tag: Option<&str>) -> Result<()> {
    Err(not_built(url))
}

/// An upload; none can exist in this build.
pub enum S3Upload {}

impl S3Upload {
    /// Fails: no S3 in this build.
    pub fn start(url: &str) -> Result<S3Upload> {
        Err(not_built(url))
    }

    /// Never called: no upload exists.
    pub fn finish(self) -> Result<()> {
        match self {}
    }
}

impl io::Write for S3Upload {
    fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
        match *self {}
    }

    fn flush(&mut self) -> io::Result<()> {
        match *self {}
    }
}

/// Fails: no S3 in this build.
pub fn delete(url: &str) -> Result<()> {
    Err(not_built(url))
}

/// No upload can be open in this build.
pub fn open_uploads() -> usize {
    0
}
