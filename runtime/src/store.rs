//! The state store: installations, runs, step results and outputs, in SQLite
//! (WAL) under the wasmix home.
//!
//! Sensitive output values live in their own table, never in the columns that
//! listings print, and log text is redacted before it gets here.

use crate::seal::SealKey;
use rusqlite::config::DbConfig;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};
use zeroize::Zeroizing;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("state store {path}: {source}")]
    Sqlite {
        /// Database file.
        path: String,
        /// Cause.
        source: rusqlite::Error,
    },
    /// A sensitive value could not be sealed or opened.
    #[error(transparent)]
    Seal(#[from] crate::seal::SealError),
    /// Its directory could not be created.
    #[error("state store directory {path}: {source}")]
    Dir {
        /// Directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

/// A status kept as text in the store: one name per variant, the same in
/// SQLite, in JSON and on the terminal.
macro_rules! text_status {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// The name stored and shown.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The status stored as `text`.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                match v.as_str()? {
                    $($text => Ok($name::$variant),)+
                    other => Err(rusqlite::types::FromSqlError::Other(
                        format!("unknown {} {other:?}", stringify!($name)).into(),
                    )),
                }
            }
        }
    };
}

pub(crate) use text_status;

text_status! {
    /// Where an installation stands after its last run.
    InstallationStatus {
        /// The last install, upgrade or custom action succeeded.
        Installed => "installed",
        /// The last install, upgrade or uninstall failed.
        Failed => "failed",
        /// Uninstalled successfully.
        Uninstalled => "uninstalled",
    }
}

text_status! {
    /// How a run ended.
    RunStatus {
        /// Every step succeeded.
        Succeeded => "succeeded",
        /// A step failed, or the run was interrupted.
        Failed => "failed",
    }
}

text_status! {
    /// How a step ended.
    StepStatus {
        /// The mixin returned outputs the run accepted.
        Succeeded => "succeeded",
        /// The step failed or was refused.
        Failed => "failed",
    }
}

/// An installation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Installation {
    /// Name.
    pub name: String,
    /// Bundle name.
    pub bundle: String,
    /// Bundle version.
    pub version: String,
    /// Manifest path last used.
    pub manifest: String,
    /// Where it stands.
    pub status: InstallationStatus,
    /// Last action.
    pub last_action: String,
    /// Created, RFC 3339.
    pub created: String,
    /// Modified, RFC 3339.
    pub modified: String,
}

/// A recorded run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Run {
    /// Id.
    pub id: i64,
    /// Installation.
    pub installation: String,
    /// Action.
    pub action: String,
    /// How it ended.
    pub status: RunStatus,
    /// Why it failed (redacted).
    pub error: Option<String>,
    /// Started, RFC 3339.
    pub started: String,
}

/// A recorded step result.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepRecord {
    /// Position in the action.
    pub index: usize,
    /// Mixin.
    pub mixin: String,
    /// Description.
    pub description: String,
    /// How it ended.
    pub status: StepStatus,
    /// Failure message (redacted).
    pub message: Option<String>,
    /// Logs (redacted).
    pub logs: String,
    /// Milliseconds.
    pub duration_ms: u64,
}

/// An output of an installation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StoredOutput {
    /// Name.
    pub name: String,
    /// Value; `None` for a sensitive output unless asked for.
    pub value: Option<String>,
    /// Sensitive.
    pub sensitive: bool,
    /// Run that produced it.
    pub run_id: i64,
}

/// The store's file, for errors raised while a transaction borrows it.
pub(crate) struct At(String);

impl At {
    /// Map a SQLite error to the store's error.
    pub(crate) fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + Copy + '_ {
        move |source| StoreError::Sqlite {
            path: self.0.clone(),
            source,
        }
    }
}

/// A write transaction on `conn` (the store at `path`), taken at once
/// (`IMMEDIATE`): concurrent writers (a workflow's parallel tasks) wait for
/// each other through the busy timeout instead of failing when a read would
/// later turn into a write. With it, what maps errors while the transaction
/// borrows the connection. A function of the fields, not of `Store`, so the
/// seal key stays usable inside the transaction.
pub(crate) fn write<'c>(
    conn: &'c mut Connection,
    path: &str,
) -> Result<(rusqlite::Transaction<'c>, At), StoreError> {
    let at = At(path.to_string());
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(at.err())?;
    Ok((tx, at))
}

/// The state store.
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) path: String,
    /// Seals sensitive values: none is kept in clear.
    pub(crate) key: SealKey,
}

/// Which row a sealed value belongs to; sealed with the value.
fn seal_context(run_id: i64, name: &str) -> String {
    format!("run {run_id} output {name}")
}

/// How large the write-ahead log may grow before a closing store folds it
/// into the database: a few runs' worth.
const WAL_FOLD_BYTES: u64 = 256 << 10;

impl Drop for Store {
    /// Every command opens the store as its first connection, and the first
    /// connection reads the whole write-ahead log to rebuild its index. A
    /// log left to grow would make every command slower, so once it holds
    /// more than [`WAL_FOLD_BYTES`] it is copied into the database and
    /// truncated (two fsyncs, every few runs instead of every command).
    /// A failure leaves the log as it is, still durable.
    fn drop(&mut self) {
        let wal = format!("{}-wal", self.path);
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_FOLD_BYTES) {
            // Folding waits for other connections' transactions (a
            // workflow's parallel tasks): not for long, and never holding
            // up their commits; a busy log is folded by a later command.
            let _ = self.conn.busy_timeout(std::time::Duration::from_millis(50));
            let _ = self.fold_log();
        }
    }
}

/// Which row a sealed set document belongs to.
fn set_context(kind: &str, name: &str) -> String {
    format!("{kind} set {name}")
}

/// Which row a sealed state file belongs to.
fn state_context(run_id: i64, name: &str) -> String {
    format!("run {run_id} state {name}")
}

/// The store's layout version, kept in SQLite's `user_version`. Raise it
/// with every change to [`SCHEMA`] (or to what `open` does once per store):
/// a store at this version is opened without re-running either.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS installations (
    name TEXT PRIMARY KEY, bundle TEXT NOT NULL, version TEXT NOT NULL, manifest TEXT NOT NULL,
    status TEXT NOT NULL, last_action TEXT NOT NULL, created INTEGER NOT NULL, modified INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, installation TEXT NOT NULL, action TEXT NOT NULL,
    status TEXT NOT NULL, error TEXT, parameters TEXT NOT NULL, started INTEGER NOT NULL, finished INTEGER);
CREATE TABLE IF NOT EXISTS results (
    run_id INTEGER NOT NULL REFERENCES runs(id), step INTEGER NOT NULL, mixin TEXT NOT NULL,
    description TEXT NOT NULL, status TEXT NOT NULL, message TEXT, logs TEXT NOT NULL,
    duration_ms INTEGER NOT NULL, PRIMARY KEY (run_id, step));
CREATE TABLE IF NOT EXISTS outputs (
    run_id INTEGER NOT NULL REFERENCES runs(id), installation TEXT NOT NULL, name TEXT NOT NULL,
    value TEXT, sensitive INTEGER NOT NULL, PRIMARY KEY (run_id, name));
CREATE TABLE IF NOT EXISTS sets (
    kind TEXT NOT NULL, name TEXT NOT NULL, document BLOB NOT NULL, modified INTEGER NOT NULL,
    PRIMARY KEY (kind, name));
CREATE TABLE IF NOT EXISTS state_files (
    run_id INTEGER NOT NULL REFERENCES runs(id), installation TEXT NOT NULL, name TEXT NOT NULL,
    value BLOB NOT NULL, PRIMARY KEY (run_id, name));
CREATE TABLE IF NOT EXISTS sensitive_values (
    run_id INTEGER NOT NULL REFERENCES runs(id), name TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (run_id, name));
CREATE TABLE IF NOT EXISTS sharing_groups (
    installation TEXT PRIMARY KEY, group_name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dependents (
    installation TEXT NOT NULL, parent TEXT NOT NULL, PRIMARY KEY (installation, parent));
CREATE TABLE IF NOT EXISTS workflows (
    id INTEGER PRIMARY KEY AUTOINCREMENT, installation TEXT NOT NULL, action TEXT NOT NULL,
    status TEXT NOT NULL, graph TEXT NOT NULL, inputs BLOB NOT NULL, error TEXT,
    created_ms INTEGER NOT NULL, modified_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    workflow_id INTEGER NOT NULL REFERENCES workflows(id), node TEXT NOT NULL, action TEXT,
    status TEXT NOT NULL, bundle TEXT NOT NULL, level INTEGER NOT NULL, after TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, started_ms INTEGER, finished_ms INTEGER, run_id INTEGER,
    error TEXT, PRIMARY KEY (workflow_id, node));
CREATE TABLE IF NOT EXISTS attempts (
    workflow_id INTEGER NOT NULL, node TEXT NOT NULL, attempt INTEGER NOT NULL,
    pid INTEGER NOT NULL, run_floor INTEGER NOT NULL, started_ms INTEGER NOT NULL,
    finished_ms INTEGER, status TEXT NOT NULL, run_id INTEGER, error TEXT,
    PRIMARY KEY (workflow_id, node, attempt));
CREATE INDEX IF NOT EXISTS runs_by_installation ON runs (installation, status);
CREATE INDEX IF NOT EXISTS outputs_by_installation ON outputs (installation, name, run_id);
CREATE INDEX IF NOT EXISTS state_files_by_installation ON state_files (installation, run_id);
";

/// The latest value of each output of an installation, from successful runs
/// (with its sealed value when sensitive). Read by every action.
const OUTPUTS_SQL: &str = "SELECT o.name, o.value, o.sensitive, o.run_id, s.value FROM outputs o
    JOIN runs r ON r.id = o.run_id
    LEFT JOIN sensitive_values s ON s.run_id = o.run_id AND s.name = o.name
    WHERE o.installation = ?1 AND r.status = 'succeeded'
      AND o.run_id = (SELECT MAX(o2.run_id) FROM outputs o2 JOIN runs r2 ON r2.id = o2.run_id
                      WHERE o2.installation = o.installation AND o2.name = o.name AND r2.status = 'succeeded')
    ORDER BY o.name";

/// The state files of an installation's last successful run. Read by every
/// action.
const STATE_SQL: &str =
    "SELECT s.run_id, s.name, s.value FROM state_files s JOIN runs r ON r.id = s.run_id
    WHERE s.installation = ?1
      AND s.run_id = (SELECT MAX(id) FROM runs WHERE installation = ?1 AND status = 'succeeded')";

/// The parameters of an installation's last successful run. Read by every
/// action.
const LAST_PARAMETERS_SQL: &str =
    "SELECT parameters FROM runs WHERE installation = ?1 AND status = 'succeeded' ORDER BY id DESC LIMIT 1";

/// Everything one run records, written in one transaction.
pub struct RunRecord<'a> {
    /// Installation name.
    pub installation: &'a str,
    /// Bundle name.
    pub bundle: &'a str,
    /// Bundle version.
    pub version: &'a str,
    /// Manifest path.
    pub manifest: &'a str,
    /// Action.
    pub action: &'a str,
    /// Error (redacted), if the run failed.
    pub error: Option<&'a str>,
    /// Non-sensitive parameter values, JSON.
    pub parameters: &'a str,
    /// Step results.
    pub steps: &'a [StepRecord],
    /// Bundle outputs: name, value, sensitive.
    pub outputs: &'a [(String, String, bool)],
    /// The bundle's `state:` files after the run (kept only when it
    /// succeeded), sealed like sensitive values: name, bytes.
    pub state: &'a [(String, Vec<u8>)],
    /// Started, seconds since the epoch.
    pub started: i64,
}

/// Seconds since the epoch, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Store {
    /// The directory the store lives in (wasmix's home).
    pub fn dir(&self) -> std::path::PathBuf {
        Path::new(&self.path)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    }

    /// Open (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent() {
            crate::fsutil::private_dir(dir).map_err(|source| StoreError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let sql = |source| StoreError::Sqlite {
            path: shown.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql)?;
        // Deleted and rewritten rows are zeroed, so a value sealed in place
        // (or a deleted installation) leaves no clear copy in free pages.
        conn.pragma_update(None, "secure_delete", "ON")
            .map_err(sql)?;
        // The last connection to close would copy the write-ahead log into
        // the database and delete it: two more fsyncs per command, and the
        // log recreated by the next. The log is as durable as the database,
        // so it stays, and `Drop` folds it in only once it has grown (see
        // there).
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(sql)?;
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sql)?;
        // `state.db` → `state.key`, beside it in the private directory.
        let key = SealKey::load_or_create(&path.with_extension("key"))?;
        // A store this version already set up needs none of it again: the
        // per-command cost of opening stays a file open and a few pragmas.
        if version < SCHEMA_VERSION {
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(sql)?;
            conn.execute_batch(SCHEMA).map_err(sql)?;
        }
        // Parse the schema now: every use of a store needs it, and opening
        // may be on another thread while the caller has other work
        // (`wasmix install` opens its store while mixins load).
        conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
            .map_err(sql)?;
        let mut store = Store {
            conn,
            path: shown.clone(),
            key,
        };
        if version < SCHEMA_VERSION {
            store.seal_legacy_values()?;
            store
                .conn
                .pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(|source| StoreError::Sqlite {
                    path: shown,
                    source,
                })?;
        }
        Ok(store)
    }

    /// Stores written before values were sealed kept them as text: seal
    /// them, in one transaction, the first time such a store is opened.
    fn seal_legacy_values(&mut self) -> Result<(), StoreError> {
        let (tx, at) = write(&mut self.conn, &self.path)?;
        let sql = at.err();
        let legacy: Vec<(i64, String, Zeroizing<String>)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT run_id, name, value FROM sensitive_values WHERE typeof(value) = 'text'",
                )
                .map_err(sql)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, Zeroizing::new(r.get(2)?)))
                })
                .map_err(sql)?;
            rows.collect::<Result<_, _>>().map_err(sql)?
        };
        if legacy.is_empty() {
            return tx.commit().map_err(sql);
        }
        for (run_id, name, value) in &legacy {
            let sealed = self.key.seal(&seal_context(*run_id, name), value)?;
            tx.execute(
                "UPDATE sensitive_values SET value = ?3 WHERE run_id = ?1 AND name = ?2",
                params![run_id, name, sealed],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        // The clear values may still sit in the write-ahead log.
        self.fold_log()
    }

    /// The sharing group a dependency installation was made in, if any.
    pub fn sharing_group(&self, installation: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT group_name FROM sharing_groups WHERE installation = ?1",
                params![installation],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// The installations that required `installation` as a dependency.
    pub fn parents(&self, installation: &str) -> Result<Vec<String>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT parent FROM dependents WHERE installation = ?1 ORDER BY parent")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![installation], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Remember that `parents` require dependency `installation`, made in
    /// sharing group `group` when shared.
    pub fn link_dependency(
        &mut self,
        installation: &str,
        group: Option<&str>,
        parents: &[String],
    ) -> Result<(), StoreError> {
        let (tx, at) = write(&mut self.conn, &self.path)?;
        let sql = at.err();
        if let Some(g) = group {
            tx.execute(
                "INSERT INTO sharing_groups (installation, group_name) VALUES (?1, ?2)
                 ON CONFLICT(installation) DO UPDATE SET group_name = excluded.group_name",
                params![installation, g],
            )
            .map_err(sql)?;
        }
        for p in parents {
            tx.execute(
                "INSERT OR IGNORE INTO dependents (installation, parent) VALUES (?1, ?2)",
                params![installation, p],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)
    }

    /// Forget `installation` as a dependency and as a parent: it was
    /// uninstalled.
    pub fn unlink(&mut self, installation: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "DELETE FROM dependents WHERE installation = ?1 OR parent = ?1",
                params![installation],
            )
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "DELETE FROM sharing_groups WHERE installation = ?1",
                params![installation],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub(crate) fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Record a finished run atomically; returns its id.
    pub fn record(&mut self, r: &RunRecord<'_>) -> Result<i64, StoreError> {
        let (tx, at) = write(&mut self.conn, &self.path)?;
        let sql = at.err();
        let finished = now();
        let status = if r.error.is_some() {
            RunStatus::Failed
        } else {
            RunStatus::Succeeded
        };
        tx.execute(
            "INSERT INTO runs (installation, action, status, error, parameters, started, finished) VALUES (?1,?2,?3,?4,?5,?6,?7)",
            params![r.installation, r.action, status, r.error, r.parameters, r.started, finished],
        )
        .map_err(sql)?;
        let run_id = tx.last_insert_rowid();
        for s in r.steps {
            tx.execute(
                "INSERT INTO results (run_id, step, mixin, description, status, message, logs, duration_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8)",
                params![run_id, s.index as i64, s.mixin, s.description, s.status, s.message, s.logs, s.duration_ms as i64],
            )
            .map_err(sql)?;
        }
        for (name, value, sensitive) in r.outputs {
            let plain = if *sensitive {
                None
            } else {
                Some(value.as_str())
            };
            tx.execute(
                "INSERT INTO outputs (run_id, installation, name, value, sensitive) VALUES (?1,?2,?3,?4,?5)",
                params![run_id, r.installation, name, plain, *sensitive],
            )
            .map_err(sql)?;
            if *sensitive {
                let sealed = self.key.seal(&seal_context(run_id, name), value)?;
                tx.execute(
                    "INSERT INTO sensitive_values (run_id, name, value) VALUES (?1,?2,?3)",
                    params![run_id, name, sealed],
                )
                .map_err(sql)?;
            }
        }
        if r.error.is_none() {
            for (name, bytes) in r.state {
                let sealed = self.key.seal_bytes(&state_context(run_id, name), bytes)?;
                tx.execute(
                    "INSERT INTO state_files (run_id, installation, name, value) VALUES (?1,?2,?3,?4)",
                    params![run_id, r.installation, name, sealed],
                )
                .map_err(sql)?;
            }
        }
        let inst_status = match (r.error, r.action) {
            (Some(_), _) => InstallationStatus::Failed,
            (None, "uninstall") => InstallationStatus::Uninstalled,
            (None, _) => InstallationStatus::Installed,
        };
        // A failed custom action does not change what is installed.
        let builtin = matches!(r.action, "install" | "upgrade" | "uninstall");
        let existing: Option<InstallationStatus> = tx
            .query_row(
                "SELECT status FROM installations WHERE name = ?1",
                params![r.installation],
                |row| row.get(0),
            )
            .optional()
            .map_err(sql)?;
        match existing {
            None => {
                tx.execute(
                    "INSERT INTO installations (name, bundle, version, manifest, status, last_action, created, modified) VALUES (?1,?2,?3,?4,?5,?6,?7,?7)",
                    params![r.installation, r.bundle, r.version, r.manifest, inst_status, r.action, finished],
                )
                .map_err(sql)?;
            }
            Some(prev) => {
                let status = if builtin { inst_status } else { prev };
                if r.error.is_none() {
                    tx.execute(
                        "UPDATE installations SET bundle=?2, version=?3, manifest=?4, status=?5, last_action=?6, modified=?7 WHERE name=?1",
                        params![r.installation, r.bundle, r.version, r.manifest, status, r.action, finished],
                    )
                    .map_err(sql)?;
                } else {
                    // A failed run (say, with --force and another bundle)
                    // does not re-point the installation.
                    tx.execute(
                        "UPDATE installations SET status=?2, last_action=?3, modified=?4 WHERE name=?1",
                        params![r.installation, status, r.action, finished],
                    )
                    .map_err(sql)?;
                }
            }
        }
        tx.commit().map_err(sql)?;
        Ok(run_id)
    }

    /// All installations, by name.
    pub fn installations(&self) -> Result<Vec<Installation>, StoreError> {
        self.select_installations("ORDER BY name", params![])
    }

    /// One installation: looked up by its key, not found among all of them
    /// (every action reads its installation first).
    pub fn installation(&self, name: &str) -> Result<Option<Installation>, StoreError> {
        Ok(self
            .select_installations("WHERE name = ?1", params![name])?
            .pop())
    }

    fn select_installations(
        &self,
        clause: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Installation>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT name, bundle, version, manifest, status, last_action, created, modified FROM installations {clause}"))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(args, |row| {
                Ok(Installation {
                    name: row.get(0)?,
                    bundle: row.get(1)?,
                    version: row.get(2)?,
                    manifest: row.get(3)?,
                    status: row.get(4)?,
                    last_action: row.get(5)?,
                    created: rfc3339(row.get(6)?),
                    modified: rfc3339(row.get(7)?),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Runs of an installation, newest first.
    pub fn runs(&self, installation: &str) -> Result<Vec<Run>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, installation, action, status, error, started FROM runs WHERE installation = ?1 ORDER BY id DESC")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![installation], |row| {
                Ok(Run {
                    id: row.get(0)?,
                    installation: row.get(1)?,
                    action: row.get(2)?,
                    status: row.get(3)?,
                    error: row.get(4)?,
                    started: rfc3339(row.get(5)?),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Step results of a run.
    pub fn results(&self, run_id: i64) -> Result<Vec<StepRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT step, mixin, description, status, message, logs, duration_ms FROM results WHERE run_id = ?1 ORDER BY step")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![run_id], |row| {
                Ok(StepRecord {
                    index: row.get::<_, i64>(0)? as usize,
                    mixin: row.get(1)?,
                    description: row.get(2)?,
                    status: row.get(3)?,
                    message: row.get(4)?,
                    logs: row.get(5)?,
                    duration_ms: row.get::<_, i64>(6)? as u64,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The latest value of each output of an installation, from successful
    /// runs. Sensitive values are included only when `reveal` is true.
    pub fn outputs(
        &self,
        installation: &str,
        reveal: bool,
    ) -> Result<Vec<StoredOutput>, StoreError> {
        let mut stmt = self.conn.prepare(OUTPUTS_SQL).map_err(|e| self.err(e))?;
        type Row = (String, Option<String>, bool, i64, Option<Vec<u8>>);
        let rows: Vec<Row> = stmt
            .query_map(params![installation], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(name, plain, sensitive, run_id, sealed)| {
                let value = match (sensitive, reveal, sealed) {
                    (false, _, _) => plain,
                    (true, true, Some(sealed)) => {
                        Some(self.key.open(&seal_context(run_id, &name), &sealed)?)
                    }
                    (true, _, _) => None,
                };
                Ok(StoredOutput {
                    name,
                    value,
                    sensitive,
                    run_id,
                })
            })
            .collect()
    }

    /// The installation's `state:` files as its last successful run left
    /// them (a file that run did not leave is absent): name → bytes.
    pub fn state(
        &self,
        installation: &str,
    ) -> Result<BTreeMap<String, Zeroizing<Vec<u8>>>, StoreError> {
        let mut stmt = self.conn.prepare(STATE_SQL).map_err(|e| self.err(e))?;
        let rows: Vec<(i64, String, Vec<u8>)> = stmt
            .query_map(params![installation], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        rows.into_iter()
            .map(|(run_id, name, sealed)| {
                let bytes = self
                    .key
                    .open_bytes(&state_context(run_id, &name), &sealed)?;
                Ok((name, bytes))
            })
            .collect()
    }

    /// Store (or replace) a credential or parameter set's document, sealed:
    /// a `value:` source may hold a secret.
    pub fn put_set(&mut self, kind: &str, name: &str, document: &str) -> Result<(), StoreError> {
        let sealed = self.key.seal(&set_context(kind, name), document)?;
        self.conn
            .execute(
                "INSERT INTO sets (kind, name, document, modified) VALUES (?1,?2,?3,?4)
                 ON CONFLICT(kind, name) DO UPDATE SET document = ?3, modified = ?4",
                params![kind, name, sealed, now()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A stored set's document.
    pub fn set(&self, kind: &str, name: &str) -> Result<Option<String>, StoreError> {
        let sealed: Option<Vec<u8>> = self
            .conn
            .query_row(
                "SELECT document FROM sets WHERE kind = ?1 AND name = ?2",
                params![kind, name],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        sealed
            .map(|s| self.key.open(&set_context(kind, name), &s))
            .transpose()
            .map_err(StoreError::from)
    }

    /// The stored sets of a kind: name and when it was last applied (RFC 3339).
    pub fn sets(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, modified FROM sets WHERE kind = ?1 ORDER BY name")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![kind], |r| Ok((r.get(0)?, rfc3339(r.get(1)?))))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Forget a stored set; true when it existed.
    pub fn delete_set(&mut self, kind: &str, name: &str) -> Result<bool, StoreError> {
        let existed = self
            .conn
            .execute(
                "DELETE FROM sets WHERE kind = ?1 AND name = ?2",
                params![kind, name],
            )
            .map(|n| n > 0)
            .map_err(|e| self.err(e))?;
        self.fold_log()?;
        Ok(existed)
    }

    /// Copy the write-ahead log into the database and truncate it. After a
    /// delete: the database's own copies of the deleted rows are zeroed
    /// (`secure_delete`) only when the log is folded in, and the log's old
    /// frames go with the truncation, so no clear copy stays on disk.
    fn fold_log(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|e| self.err(e))
    }

    /// Forget installation `name`: its runs, step results, outputs and
    /// sealed values, in one transaction. True when it existed.
    pub fn delete_installation(&mut self, name: &str) -> Result<bool, StoreError> {
        let (tx, at) = write(&mut self.conn, &self.path)?;
        let sql = at.err();
        let runs = "SELECT id FROM runs WHERE installation = ?1";
        for table in ["results", "sensitive_values", "outputs", "state_files"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE run_id IN ({runs})"),
                params![name],
            )
            .map_err(sql)?;
        }
        tx.execute("DELETE FROM runs WHERE installation = ?1", params![name])
            .map_err(sql)?;
        tx.execute(
            "DELETE FROM dependents WHERE installation = ?1 OR parent = ?1",
            params![name],
        )
        .map_err(sql)?;
        tx.execute(
            "DELETE FROM sharing_groups WHERE installation = ?1",
            params![name],
        )
        .map_err(sql)?;
        let existed = tx
            .execute("DELETE FROM installations WHERE name = ?1", params![name])
            .map_err(sql)?
            > 0;
        tx.commit().map_err(sql)?;
        self.fold_log()?;
        Ok(existed)
    }

    /// The parameters (JSON object) of the last successful run.
    pub fn last_parameters(&self, installation: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(LAST_PARAMETERS_SQL, params![installation], |row| row.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }
}

/// Seconds since the epoch as RFC 3339 (UTC).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A successful install of installation `inst` with these outputs.
    fn install_run<'a>(
        inst: &'a str,
        steps: &'a [StepRecord],
        outputs: &'a [(String, String, bool)],
    ) -> RunRecord<'a> {
        RunRecord {
            installation: inst,
            bundle: "b",
            version: "1",
            manifest: "m",
            action: "install",
            error: None,
            parameters: "{}",
            steps,
            outputs,
            state: &[],
            started: now(),
        }
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn sensitive_values_stay_out_of_plain_columns() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("state.db")).unwrap();
        let outputs = vec![
            ("token".to_string(), "s3cret".to_string(), true),
            ("url".to_string(), "http://x".to_string(), false),
        ];
        s.record(&install_run("i", &[], &outputs)).unwrap();
        let hidden = s.outputs("i", false).unwrap();
        assert_eq!(hidden[0].name, "token");
        assert_eq!(hidden[0].value, None);
        assert_eq!(hidden[1].value.as_deref(), Some("http://x"));
        assert_eq!(
            s.outputs("i", true).unwrap()[0].value.as_deref(),
            Some("s3cret")
        );
        let plain: i64 = s
            .conn
            .query_row(
                "SELECT COUNT(*) FROM outputs WHERE value LIKE '%s3cret%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(plain, 0);
        // Sealed at rest: no table holds the secret's bytes.
        let sealed: Vec<u8> = s
            .conn
            .query_row("SELECT value FROM sensitive_values", [], |r| r.get(0))
            .unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(
            s.installation("i").unwrap().unwrap().status,
            InstallationStatus::Installed
        );
    }

    #[test]
    fn deleting_an_installation_removes_everything_it_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("state.db")).unwrap();
        let outputs = vec![("token".to_string(), "s3cret".to_string(), true)];
        let steps = vec![StepRecord {
            index: 0,
            mixin: "exec".into(),
            description: "d".into(),
            status: StepStatus::Succeeded,
            message: None,
            logs: String::new(),
            duration_ms: 1,
        }];
        for inst in ["gone", "kept"] {
            s.record(&install_run(inst, &steps, &outputs)).unwrap();
        }
        assert!(s.delete_installation("gone").unwrap());
        assert!(!s.delete_installation("gone").unwrap());
        assert!(s.installation("gone").unwrap().is_none());
        assert!(s.runs("gone").unwrap().is_empty());
        let left: i64 = s
            .conn
            .query_row(
                "SELECT (SELECT COUNT(*) FROM results) + (SELECT COUNT(*) FROM outputs) + (SELECT COUNT(*) FROM sensitive_values)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 3, "only the kept installation's rows remain");
        assert_eq!(
            s.outputs("kept", true).unwrap()[0].value.as_deref(),
            Some("s3cret")
        );
    }

    #[test]
    fn lookups_by_installation_use_an_index() {
        // Every command reads its installation's last run, outputs and
        // state: without these indexes each read scans every run ever
        // recorded, and a store with months of history slows every command.
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("state.db")).unwrap();
        for sql in [OUTPUTS_SQL, STATE_SQL, LAST_PARAMETERS_SQL] {
            let plan: Vec<String> = s
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(["a"], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(
                plan.iter().any(|p| p.contains("_by_installation")),
                "{sql}: {plan:?}"
            );
            // No table read whole.
            assert!(
                !plan.iter().any(|p| p.starts_with("SCAN ")),
                "{sql}: {plan:?}"
            );
        }
    }

    #[test]
    fn the_layout_version_moves_with_the_schema() {
        // A store at SCHEMA_VERSION is opened without running SCHEMA: a
        // change to SCHEMA that keeps the version would never reach
        // existing stores. Change both, and this hash.
        use sha2::Digest;
        let hash = hex::encode(sha2::Sha256::digest(SCHEMA.as_bytes()));
        assert_eq!(
            (SCHEMA_VERSION, &hash[..16]),
            (2, "d5e3e3b9cdc87c2f"),
            "SCHEMA changed: raise SCHEMA_VERSION and update this test"
        );
    }

    #[test]
    fn deleting_folds_the_log_so_no_copy_of_the_rows_stays() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let mut s = Store::open(&db).unwrap();
        let outputs = vec![(
            "note".to_string(),
            "unforgettable-marker".to_string(),
            false,
        )];
        s.record(&install_run("gone", &[], &outputs)).unwrap();
        assert!(s.delete_installation("gone").unwrap());
        let wal = dir.path().join("state.db-wal");
        assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);
        drop(s);
        let bytes = std::fs::read(&db).unwrap();
        assert!(
            !bytes.windows(20).any(|w| w == b"unforgettable-marker"),
            "a deleted output is still in the database file"
        );
    }

    #[test]
    fn a_grown_write_ahead_log_is_folded_in_when_the_store_closes() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let wal = dir.path().join("state.db-wal");
        let wal_len = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
        let mut s = Store::open(&db).unwrap();
        let outputs = vec![("blob".to_string(), "x".repeat(64 << 10), false)];
        let mut n = 0;
        while wal_len() <= WAL_FOLD_BYTES {
            s.record(&install_run(&format!("i{n}"), &[], &outputs))
                .unwrap();
            n += 1;
            assert!(n < 100, "the log did not grow");
        }
        drop(s);
        assert_eq!(wal_len(), 0, "a grown log is folded in and truncated");
        // A small one stays, for the next command to append to.
        let mut s = Store::open(&db).unwrap();
        s.record(&install_run("small", &[], &[])).unwrap();
        drop(s);
        assert!(wal_len() > 0 && wal_len() <= WAL_FOLD_BYTES);
        let s = Store::open(&db).unwrap();
        assert!(s.installation("small").unwrap().is_some());
        assert!(s.installation("i0").unwrap().is_some());
        assert_eq!(
            s.outputs(&format!("i{}", n - 1), false).unwrap()[0]
                .value
                .as_deref()
                .map(str::len),
            Some(64 << 10)
        );
    }

    #[test]
    fn values_kept_in_clear_by_older_stores_are_sealed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let mut s = Store::open(&db).unwrap();
        let outputs = vec![("token".to_string(), "s3cret".to_string(), true)];
        let run = s.record(&install_run("i", &[], &outputs)).unwrap();
        // As an older wasmix wrote it: in clear, and before stores had a
        // layout version.
        s.conn
            .execute(
                "UPDATE sensitive_values SET value = 'legacy-secret' WHERE run_id = ?1",
                params![run],
            )
            .unwrap();
        s.conn.pragma_update(None, "user_version", 0).unwrap();
        drop(s);
        let s = Store::open(&db).unwrap();
        let kinds: String = s
            .conn
            .query_row("SELECT typeof(value) FROM sensitive_values", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(kinds, "blob");
        assert_eq!(
            s.outputs("i", true).unwrap()[0].value.as_deref(),
            Some("legacy-secret")
        );
        // Without its key, a sealed value does not open.
        drop(s);
        std::fs::remove_file(dir.path().join("state.key")).unwrap();
        let s = Store::open(&db).unwrap();
        assert!(matches!(s.outputs("i", true), Err(StoreError::Seal(_))));
        assert_eq!(s.outputs("i", false).unwrap()[0].value, None);
    }
}
