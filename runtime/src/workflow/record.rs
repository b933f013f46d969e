//! Workflows in the state store: the workflow (with its solved graph), one
//! row per task, one per attempt. The operator's input sources are kept
//! sealed (they may hold a `value:` credential); values rendered from them
//! are never written.

use super::{now_ms, TaskStatus, WorkflowError, WorkflowStatus};
use crate::dependencies::Graph;
use crate::store::{RunStatus, Store, StoreError};
use rusqlite::{params, OptionalExtension};
use zeroize::Zeroizing;

/// A workflow as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Workflow {
    /// Id.
    pub id: i64,
    /// The root installation.
    pub installation: String,
    /// The action.
    pub action: String,
    /// Where it stands.
    pub status: WorkflowStatus,
    /// Why it stopped, when it did not succeed.
    pub error: Option<String>,
    /// Created, ms since the epoch.
    pub created_ms: i64,
    /// Last changed, ms since the epoch.
    pub modified_ms: i64,
    /// Its tasks, in plan order.
    pub tasks: Vec<Task>,
    /// The solved graph it runs.
    #[serde(skip)]
    pub graph: Graph,
}

/// A task as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Task {
    /// Its node (the installation it acts on).
    pub node: String,
    /// The action it runs; `None` when nothing runs.
    pub action: Option<String>,
    /// Where it stands.
    pub status: TaskStatus,
    /// The bundle it runs: a pinned reference (the digest it ran) or a
    /// directory.
    pub bundle: String,
    /// Its level in the plan.
    pub level: usize,
    /// The tasks it waits for.
    pub after: Vec<String>,
    /// Attempts so far.
    pub attempts: u32,
    /// Last start, ms since the epoch.
    pub started_ms: Option<i64>,
    /// Last end, ms since the epoch.
    pub finished_ms: Option<i64>,
    /// The installation run its last attempt recorded.
    pub run_id: Option<i64>,
    /// Why its last attempt failed.
    pub error: Option<String>,
    /// Every attempt.
    pub history: Vec<Attempt>,
}

/// One attempt at a task.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Attempt {
    /// 1, 2, …
    pub attempt: u32,
    /// The process that ran it.
    pub pid: u32,
    /// Started, ms since the epoch.
    pub started_ms: i64,
    /// Finished, ms since the epoch.
    pub finished_ms: Option<i64>,
    /// How it ended.
    pub status: TaskStatus,
    /// The run it recorded.
    pub run_id: Option<i64>,
    /// Why it failed.
    pub error: Option<String>,
}

fn inputs_context(id: i64) -> String {
    format!("workflow {id} inputs")
}

impl Store {
    /// Persist a new workflow for `graph`, every task pending (or reused /
    /// skipped when it has nothing to run), with the operator's input
    /// sources sealed. Returns its id.
    pub fn create_workflow(&mut self, graph: &Graph, inputs: &[u8]) -> Result<i64, StoreError> {
        let json = serde_json::to_string(graph).expect("JSON of plain values");
        let now = now_ms();
        let (tx, at) = crate::store::write(&mut self.conn, &self.path)?;
        let sql = at.err();
        tx.execute(
            "INSERT INTO workflows (installation, action, status, graph, inputs, created_ms, modified_ms)
             VALUES (?1, ?2, ?3, ?4, x'', ?5, ?5)",
            params![graph.root, graph.action, WorkflowStatus::Running.as_str(), json, now],
        )
        .map_err(sql)?;
        let id = tx.last_insert_rowid();
        let sealed = self.key.seal_bytes(&inputs_context(id), inputs)?;
        tx.execute(
            "UPDATE workflows SET inputs = ?2 WHERE id = ?1",
            params![id, sealed],
        )
        .map_err(sql)?;
        for n in &graph.nodes {
            let status = match (&n.action, &n.reason) {
                (Some(_), _) => TaskStatus::Pending,
                (None, crate::dependencies::Reason::Reused) => TaskStatus::Reused,
                (None, _) => TaskStatus::Skipped,
            };
            tx.execute(
                "INSERT INTO tasks (workflow_id, node, action, status, bundle, level, after)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    n.id,
                    n.action,
                    status.as_str(),
                    n.bundle,
                    n.level as i64,
                    serde_json::to_string(&n.after).expect("JSON of names"),
                ],
            )
            .map_err(sql)?;
        }
        tx.commit().map_err(sql)?;
        Ok(id)
    }

    /// The operator's input sources for workflow `id`, opened.
    pub fn workflow_inputs(&self, id: i64) -> Result<Zeroizing<Vec<u8>>, WorkflowError> {
        let sealed: Vec<u8> = self
            .conn
            .query_row(
                "SELECT inputs FROM workflows WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or(WorkflowError::NotFound(id))?;
        Ok(self
            .key
            .open_bytes(&inputs_context(id), &sealed)
            .map_err(StoreError::from)?)
    }

    /// Workflow `id` with its tasks and attempts.
    pub fn workflow(&self, id: i64) -> Result<Workflow, WorkflowError> {
        type Row = (String, String, String, String, Option<String>, i64, i64);
        let row: Option<Row> = self
            .conn
            .query_row(
                "SELECT installation, action, status, graph, error, created_ms, modified_ms
                 FROM workflows WHERE id = ?1",
                params![id],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let (installation, action, status, graph, error, created_ms, modified_ms) =
            row.ok_or(WorkflowError::NotFound(id))?;
        let corrupt = |message: String| WorkflowError::Corrupt { id, message };
        let status = WorkflowStatus::parse(&status)
            .ok_or_else(|| corrupt(format!("unknown status {status:?}")))?;
        let graph: Graph = serde_json::from_str(&graph).map_err(|e| corrupt(e.to_string()))?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT node, action, status, bundle, level, after, attempts, started_ms, finished_ms,
                        run_id, error
                 FROM tasks WHERE workflow_id = ?1 ORDER BY level, node",
            )
            .map_err(|e| self.err(e))?;
        let mut tasks: Vec<Task> = stmt
            .query_map(params![id], |r| {
                let after: String = r.get(5)?;
                Ok(Task {
                    node: r.get(0)?,
                    action: r.get(1)?,
                    status: r.get(2)?,
                    bundle: r.get(3)?,
                    level: r.get::<_, i64>(4)? as usize,
                    after: serde_json::from_str(&after).unwrap_or_default(),
                    attempts: r.get(6)?,
                    started_ms: r.get(7)?,
                    finished_ms: r.get(8)?,
                    run_id: r.get(9)?,
                    error: r.get(10)?,
                    history: Vec::new(),
                })
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT node, attempt, pid, started_ms, finished_ms, status, run_id, error
                 FROM attempts WHERE workflow_id = ?1 ORDER BY node, attempt",
            )
            .map_err(|e| self.err(e))?;
        let attempts: Vec<(String, Attempt)> = stmt
            .query_map(params![id], |r| {
                Ok((
                    r.get(0)?,
                    Attempt {
                        attempt: r.get(1)?,
                        pid: r.get(2)?,
                        started_ms: r.get(3)?,
                        finished_ms: r.get(4)?,
                        status: r.get(5)?,
                        run_id: r.get(6)?,
                        error: r.get(7)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.err(e))?;
        for (node, a) in attempts {
            if let Some(t) = tasks.iter_mut().find(|t| t.node == node) {
                t.history.push(a);
            }
        }
        Ok(Workflow {
            id,
            installation,
            action,
            status,
            error,
            created_ms,
            modified_ms,
            tasks,
            graph,
        })
    }

    /// Every workflow, newest first (tasks without their attempts).
    pub fn workflows(&self) -> Result<Vec<Workflow>, WorkflowError> {
        let ids: Vec<i64> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id FROM workflows ORDER BY id DESC")
                .map_err(|e| self.err(e))?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
            rows.collect::<Result<_, _>>().map_err(|e| self.err(e))?
        };
        ids.into_iter().map(|id| self.workflow(id)).collect()
    }

    /// Mark task `node` running in a new attempt by process `pid`. The
    /// attempt remembers the newest run id before it, so a later resume can
    /// tell whether the run it started finished.
    pub fn start_task(&mut self, id: i64, node: &str, pid: u32) -> Result<u32, StoreError> {
        let now = now_ms();
        let (tx, at) = crate::store::write(&mut self.conn, &self.path)?;
        let sql = at.err();
        let floor: i64 = tx
            .query_row("SELECT COALESCE(MAX(id), 0) FROM runs", [], |r| r.get(0))
            .map_err(sql)?;
        tx.execute(
            "UPDATE tasks SET status = 'running', attempts = attempts + 1, started_ms = ?3,
                    finished_ms = NULL, error = NULL, run_id = NULL
             WHERE workflow_id = ?1 AND node = ?2",
            params![id, node, now],
        )
        .map_err(sql)?;
        let attempt: u32 = tx
            .query_row(
                "SELECT attempts FROM tasks WHERE workflow_id = ?1 AND node = ?2",
                params![id, node],
                |r| r.get(0),
            )
            .map_err(sql)?;
        tx.execute(
            "INSERT INTO attempts (workflow_id, node, attempt, pid, run_floor, started_ms, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running')",
            params![id, node, attempt, pid, floor, now],
        )
        .map_err(sql)?;
        tx.execute(
            "UPDATE workflows SET modified_ms = ?2 WHERE id = ?1",
            params![id, now],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(attempt)
    }

    /// End task `node`'s current attempt.
    pub fn finish_task(
        &mut self,
        id: i64,
        node: &str,
        status: TaskStatus,
        run_id: Option<i64>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let (tx, at) = crate::store::write(&mut self.conn, &self.path)?;
        let sql = at.err();
        tx.execute(
            "UPDATE attempts SET status = ?3, finished_ms = ?4, run_id = ?5, error = ?6
             WHERE workflow_id = ?1 AND node = ?2
               AND attempt = (SELECT attempts FROM tasks WHERE workflow_id = ?1 AND node = ?2)",
            params![id, node, status.as_str(), now, run_id, error],
        )
        .map_err(sql)?;
        tx.execute(
            "UPDATE tasks SET status = ?3, finished_ms = ?4, run_id = ?5, error = ?6
             WHERE workflow_id = ?1 AND node = ?2",
            params![id, node, status.as_str(), now, run_id, error],
        )
        .map_err(sql)?;
        tx.execute(
            "UPDATE workflows SET modified_ms = ?2 WHERE id = ?1",
            params![id, now],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Set the status of every task of workflow `id` in `from` to `to`.
    pub fn move_tasks(
        &mut self,
        id: i64,
        from: &[TaskStatus],
        to: TaskStatus,
    ) -> Result<usize, StoreError> {
        let mut n = 0;
        for f in from {
            n += self
                .conn
                .execute(
                    "UPDATE tasks SET status = ?3 WHERE workflow_id = ?1 AND status = ?2",
                    params![id, f.as_str(), to.as_str()],
                )
                .map_err(|e| self.err(e))?;
        }
        Ok(n)
    }

    /// Set workflow `id`'s status (and why it stopped).
    pub fn set_workflow_status(
        &mut self,
        id: i64,
        status: WorkflowStatus,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE workflows SET status = ?2, error = ?3, modified_ms = ?4 WHERE id = ?1",
                params![id, status.as_str(), error, now_ms()],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// What became of a task attempt a killed process left running: the
    /// run of `installation` it recorded after the attempt began (`action`
    /// matching), if any.
    pub fn run_after_attempt(
        &self,
        id: i64,
        node: &str,
        installation: &str,
        action: &str,
    ) -> Result<Option<(i64, RunStatus)>, StoreError> {
        let floor: Option<i64> = self
            .conn
            .query_row(
                "SELECT a.run_floor FROM attempts a JOIN tasks t
                   ON t.workflow_id = a.workflow_id AND t.node = a.node AND t.attempts = a.attempt
                 WHERE a.workflow_id = ?1 AND a.node = ?2",
                params![id, node],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some(floor) = floor else {
            return Ok(None);
        };
        self.conn
            .query_row(
                "SELECT id, status FROM runs WHERE installation = ?1 AND action = ?2 AND id > ?3
                 ORDER BY id DESC LIMIT 1",
                params![installation, action, floor],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}
