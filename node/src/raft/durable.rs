//! Flushes of the node's sled database that survive a power loss, not only a crash of the
//! process.
//!
//! sled 0.34's `flush` ends in `sync_file_range` on its data file: the written pages reach
//! the disk, but neither the disk's write cache nor the file's new length is made durable,
//! and the files sled writes large tree nodes to (`blobs/`, e.g. snapshots) are never
//! synced. Its own `fsync` of the data file runs every 500 ms. A vote, an appended entry or
//! a purge record that Raft acts on must not wait for that, so every flush here is
//! followed by `fdatasync` of the data file and of any blob file not yet synced.

use parking_lot::Mutex;
use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Clone)]
pub struct DurableDb {
    db: sled::Db,
    files: Arc<Files>,
}

struct Files {
    data: File,
    blobs: PathBuf,
    /// Blob files already synced; sled never rewrites one, it writes a new one.
    synced_blobs: Mutex<HashSet<OsString>>,
}

impl DurableDb {
    /// `db` must have been opened at `dir`.
    pub fn new(db: sled::Db, dir: &Path) -> io::Result<Self> {
        // The data file's name, made when sled first opened the directory.
        File::open(dir)?.sync_all()?;
        let files = Files {
            data: File::open(dir.join("db"))?,
            blobs: dir.join("blobs"),
            synced_blobs: Mutex::default(),
        };
        Ok(DurableDb {
            db,
            files: Arc::new(files),
        })
    }

    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Flushes sled and makes what it wrote durable, on a blocking thread.
    pub async fn flush(&self) -> io::Result<()> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.flush_blocking())
            .await
            .map_err(io::Error::other)?
    }

    pub fn flush_blocking(&self) -> io::Result<()> {
        self.db.flush().map_err(io::Error::other)?;
        self.files.sync()
    }
}

impl Files {
    fn sync(&self) -> io::Result<()> {
        self.sync_new_blobs()?;
        self.data.sync_data()
    }

    /// Syncs blob files written since the last call, then the directory naming them.
    fn sync_new_blobs(&self) -> io::Result<()> {
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut synced = self.synced_blobs.lock();
        let mut present = HashSet::with_capacity(synced.len());
        let mut wrote_any = false;
        for entry in entries {
            let name = entry?.file_name();
            if !synced.contains(&name) {
                match File::open(self.blobs.join(&name)) {
                    Ok(blob) => blob.sync_data()?,
                    // sled removed it since the listing: nothing left to sync.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                wrote_any = true;
            }
            present.insert(name);
        }
        *synced = present;
        if wrote_any {
            File::open(&self.blobs)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blob files are synced once each, as they appear; ones sled deleted are forgotten.
    #[test]
    fn each_new_blob_file_is_synced_once() {
        let dir = std::env::temp_dir().join(format!("tinyredis-durable-{}", std::process::id()));
        let db = sled::Config::new().path(&dir).open().unwrap();
        let durable = DurableDb::new(db, &dir).unwrap();
        let blobs = dir.join("blobs");
        let synced = || {
            let mut names: Vec<_> = durable.files.synced_blobs.lock().iter().cloned().collect();
            names.sort();
            names
        };
        std::fs::remove_dir_all(&blobs).ok();
        durable
            .flush_blocking()
            .expect("no blobs directory is fine");
        std::fs::create_dir_all(&blobs).unwrap();
        std::fs::write(blobs.join("1"), b"one").unwrap();
        std::fs::write(blobs.join("2"), b"two").unwrap();
        durable.flush_blocking().unwrap();
        assert_eq!(synced(), ["1", "2"]);
        std::fs::remove_file(blobs.join("1")).unwrap();
        std::fs::write(blobs.join("3"), b"three").unwrap();
        durable.flush_blocking().unwrap();
        assert_eq!(synced(), ["2", "3"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
