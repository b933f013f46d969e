//! The scheduler: runs a persisted workflow's ready tasks, up to `parallel`
//! at once, through an [`Executor`], and writes every change to the store
//! as it happens.
//!
//! Guarantees, each tested by killing a real process:
//!
//! - a task is marked running (with the newest run id before it) before
//!   its action starts, and finished after its run is recorded;
//! - a task a killed process left running is settled when the workflow is
//!   resumed: if its run was recorded as succeeded it is done (never run
//!   twice), otherwise it runs again;
//! - a failed task stops only its dependents: independent tasks finish, and
//!   the workflow ends `failed` with the dependents `pending` for `retry`;
//! - one process runs a workflow at a time (an `flock` beside the store).

use super::inputs;
use super::record::Workflow;
use super::{TaskStatus, WorkflowError, WorkflowStatus};
use crate::dependencies::{Node, Reason};
use crate::run::Inputs;
use crate::store::{RunStatus, Store};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// A task handed to an executor: what to run and its inputs, rendered just
/// now and held only in memory.
pub struct TaskStart<'a> {
    /// The workflow.
    pub workflow: i64,
    /// The node: installation, bundle (pinned), action.
    pub node: &'a Node,
    /// The action to run.
    pub action: &'a str,
    /// Its inputs.
    pub inputs: Inputs,
}

/// How a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskEnd {
    /// Its action succeeded and was recorded as run `run_id`.
    Succeeded {
        /// The run.
        run_id: i64,
    },
    /// It failed (a step, or before any step ran).
    Failed {
        /// The run, when one was recorded.
        run_id: Option<i64>,
        /// Why (redacted by the run).
        error: String,
    },
    /// Ctrl-C stopped it.
    Interrupted {
        /// The run, when one was recorded.
        run_id: Option<i64>,
    },
}

/// Runs one task. The local executor runs it in a thread of this process;
/// `docs/workflows.md` designs executors that hand it to Kubernetes Jobs or
/// a NATS JetStream work queue.
pub trait Executor: Sync {
    /// Run `task` to its end.
    fn execute(&self, task: TaskStart<'_>) -> TaskEnd;
}

/// What the engine reports as it goes.
#[derive(Debug)]
pub enum Event<'a> {
    /// A task a killed process left running was settled.
    Recovered {
        /// The task.
        node: &'a str,
        /// What it was found to be.
        status: TaskStatus,
    },
    /// A task started.
    Started {
        /// The task.
        node: &'a str,
        /// Its action.
        action: &'a str,
        /// Which attempt.
        attempt: u32,
    },
    /// A task ended.
    Finished {
        /// The task.
        node: &'a str,
        /// How.
        status: TaskStatus,
        /// Why it failed.
        error: Option<&'a str>,
        /// How long it ran.
        millis: i64,
    },
}

/// Runs workflows from one store.
pub struct Engine<'a> {
    /// The state store (tasks are recorded from this thread only).
    pub store: &'a mut Store,
    /// Where the per-workflow lock files live.
    pub lock_dir: PathBuf,
    /// How many tasks may run at once.
    pub parallel: usize,
    /// The operator's values for the root, read from their sources each
    /// time a task needs them.
    pub root_inputs: &'a dyn Fn() -> Result<Inputs, String>,
}

/// The held lock on a workflow; released when dropped (or when the
/// process dies).
struct Held(#[allow(dead_code)] crate::fsutil::HeldLock);

fn lock(dir: &std::path::Path, id: i64) -> Result<Held, WorkflowError> {
    let path = dir.join(format!("workflow-{id}.lock"));
    let err = |source| WorkflowError::Lock {
        path: path.display().to_string(),
        source,
    };
    crate::fsutil::private_dir(dir).map_err(err)?;
    let file = crate::fsutil::lock_file(&path).map_err(err)?;
    let Ok(mut file) = crate::fsutil::try_lock(file).map_err(err)? else {
        let pid = std::fs::read_to_string(&path).unwrap_or_default();
        return Err(WorkflowError::Busy {
            id,
            pid: pid.trim().to_string(),
        });
    };
    file.set_len(0).map_err(err)?;
    write!(file, "{}", std::process::id()).map_err(err)?;
    Ok(Held(file))
}

impl Engine<'_> {
    /// Run workflow `id` until no task can start: resumes one a killed or
    /// interrupted process left, and reports as it goes.
    /// `retry` first sets the failed tasks pending again (refused when none
    /// failed), under the same lock.
    pub fn run(
        &mut self,
        id: i64,
        retry: bool,
        executor: &dyn Executor,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<Workflow, WorkflowError> {
        let (_held, wf) = self.open_unfinished(id, "there is nothing left to run")?;
        self.recover(&wf, on_event)?;
        if retry {
            let failed = self
                .store
                .move_tasks(id, &[TaskStatus::Failed], TaskStatus::Pending)?;
            if failed == 0 {
                return Err(WorkflowError::State {
                    id,
                    status: wf.status,
                    what: format!("no task failed; `wasmix workflow resume {id}` continues it"),
                });
            }
        }
        self.store
            .set_workflow_status(id, WorkflowStatus::Running, None)?;
        // Loaded once more after recovery and retry; from here this engine
        // is the only writer (it holds the lock), so it keeps the statuses
        // in memory and writes every change through.
        let wf = self.store.workflow(id)?;
        let graph = &wf.graph;
        let mut status: BTreeMap<&str, TaskStatus> = wf
            .tasks
            .iter()
            .map(|t| (t.node.as_str(), t.status))
            .collect();
        // Reused installations are used by their parents from now on.
        for n in graph.nodes.iter().filter(|n| n.reason == Reason::Reused) {
            if n.id != graph.root {
                self.store
                    .link_dependency(&n.id, n.sharing.as_deref(), &n.required_by)?;
            }
        }
        let parallel = self.parallel.max(1);
        let pid = std::process::id();
        std::thread::scope(|scope| -> Result<(), WorkflowError> {
            let (tx, rx) = std::sync::mpsc::channel::<(&str, i64, TaskEnd)>();
            let mut running = 0usize;
            loop {
                if !crate::interrupt::requested() {
                    let ready: Vec<&Node> = wf
                        .tasks
                        .iter()
                        .filter(|t| status[t.node.as_str()] == TaskStatus::Pending)
                        .filter(|t| {
                            t.after.iter().all(|a| {
                                status
                                    .get(a.as_str())
                                    .is_some_and(|s| s.lets_dependents_run())
                            })
                        })
                        .filter_map(|t| graph.node(&t.node))
                        .collect();
                    for node in ready {
                        if running >= parallel {
                            break;
                        }
                        let Some(action) = node.action.as_deref() else {
                            continue;
                        };
                        // Just in time: the sources are read now, for this
                        // task, and the values live in its thread only.
                        let rendered = (self.root_inputs)()
                            .and_then(|root| inputs::for_node(graph, node, &root, self.store));
                        let attempt = self.store.start_task(id, &node.id, pid)?;
                        // Who shares and uses it is known before it runs, so
                        // a failed first install is still its group's.
                        if node.reason != Reason::Root && action != "uninstall" {
                            self.store.link_dependency(
                                &node.id,
                                node.sharing.as_deref(),
                                &node.required_by,
                            )?;
                        }
                        on_event(Event::Started {
                            node: &node.id,
                            action,
                            attempt,
                        });
                        let started = super::now_ms();
                        match rendered {
                            Err(e) => {
                                let error = format!("inputs: {e}");
                                self.store.finish_task(
                                    id,
                                    &node.id,
                                    TaskStatus::Failed,
                                    None,
                                    Some(&error),
                                )?;
                                status.insert(&node.id, TaskStatus::Failed);
                                on_event(Event::Finished {
                                    node: &node.id,
                                    status: TaskStatus::Failed,
                                    error: Some(&error),
                                    millis: 0,
                                });
                            }
                            Ok(inputs) => {
                                running += 1;
                                status.insert(&node.id, TaskStatus::Running);
                                let tx = tx.clone();
                                scope.spawn(move || {
                                    // A panicking executor fails its task
                                    // instead of leaving the loop waiting
                                    // for a result that never comes.
                                    let end = std::panic::catch_unwind(
                                        std::panic::AssertUnwindSafe(|| {
                                            executor.execute(TaskStart {
                                                workflow: id,
                                                node,
                                                action,
                                                inputs,
                                            })
                                        }),
                                    )
                                    .unwrap_or_else(|_| TaskEnd::Failed {
                                        run_id: None,
                                        error:
                                            "the executor panicked (a wasmix bug: please report it)"
                                                .into(),
                                    });
                                    let _ = tx.send((node.id.as_str(), started, end));
                                });
                            }
                        }
                    }
                }
                // Every ready task was started: with none running, nothing
                // more can become ready.
                if running == 0 {
                    return Ok(());
                }
                let Ok((node_id, started, end)) = rx.recv() else {
                    return Ok(());
                };
                running -= 1;
                let node = graph.node(node_id).expect("task of the graph");
                let (ended, run_id, error) = match &end {
                    TaskEnd::Succeeded { run_id } => (TaskStatus::Succeeded, Some(*run_id), None),
                    TaskEnd::Failed { run_id, error } => {
                        (TaskStatus::Failed, *run_id, Some(error.clone()))
                    }
                    // Interrupted: pending again, for `resume`.
                    TaskEnd::Interrupted { run_id } => (
                        TaskStatus::Pending,
                        *run_id,
                        Some("interrupted (Ctrl-C)".to_string()),
                    ),
                };
                if ended == TaskStatus::Succeeded {
                    self.unlink_if_removed(node)?;
                }
                self.store
                    .finish_task(id, node_id, ended, run_id, error.as_deref())?;
                status.insert(node_id, ended);
                on_event(Event::Finished {
                    node: node_id,
                    status: ended,
                    error: error.as_deref(),
                    millis: super::now_ms() - started,
                });
            }
        })?;
        let failed: Vec<&str> = status
            .iter()
            .filter(|(_, s)| **s == TaskStatus::Failed)
            .map(|(n, _)| *n)
            .collect();
        let (outcome, error) = if !failed.is_empty() {
            (
                WorkflowStatus::Failed,
                Some(format!(
                    "{} failed; fix the cause, then `wasmix workflow retry {id}`",
                    failed.join(", ")
                )),
            )
        } else if status.values().any(|s| *s == TaskStatus::Pending) {
            (
                WorkflowStatus::Interrupted,
                Some(format!(
                    "interrupted; `wasmix workflow resume {id}` runs what is left"
                )),
            )
        } else {
            (WorkflowStatus::Succeeded, None)
        };
        self.store
            .set_workflow_status(id, outcome, error.as_deref())?;
        self.store.workflow(id)
    }

    /// Take workflow `id`'s lock and load it, refusing (with `ended`, said
    /// of it) a workflow that has succeeded or been cancelled.
    fn open_unfinished(&self, id: i64, ended: &str) -> Result<(Held, Workflow), WorkflowError> {
        let held = lock(&self.lock_dir, id)?;
        let wf = self.store.workflow(id)?;
        if matches!(
            wf.status,
            WorkflowStatus::Succeeded | WorkflowStatus::Cancelled
        ) {
            return Err(WorkflowError::State {
                id,
                status: wf.status,
                what: ended.into(),
            });
        }
        Ok((held, wf))
    }

    /// Cancel workflow `id`: tasks a killed process left running are
    /// settled first (one that succeeded stays succeeded), then every task
    /// that has not run is cancelled. Refused while a process runs it.
    pub fn cancel(&mut self, id: i64) -> Result<usize, WorkflowError> {
        let (_held, wf) = self.open_unfinished(id, "it has ended")?;
        self.recover(&wf, &mut |_| {})?;
        let n = self.store.move_tasks(
            id,
            &[TaskStatus::Pending, TaskStatus::Failed],
            TaskStatus::Cancelled,
        )?;
        self.store.set_workflow_status(
            id,
            WorkflowStatus::Cancelled,
            Some("cancelled by the operator"),
        )?;
        Ok(n)
    }

    /// An installation a task uninstalled is no one's dependency or parent
    /// any more. (Who uses a dependency is recorded when its task starts.)
    fn unlink_if_removed(&mut self, node: &Node) -> Result<(), WorkflowError> {
        if node.action.as_deref() == Some("uninstall") {
            self.store.unlink(&node.id)?;
        }
        Ok(())
    }

    /// Settle tasks a killed process left `running`: done when the run it
    /// started was recorded as succeeded, pending otherwise.
    fn recover(
        &mut self,
        wf: &Workflow,
        on_event: &mut dyn FnMut(Event<'_>),
    ) -> Result<(), WorkflowError> {
        for t in wf.tasks.iter().filter(|t| t.status == TaskStatus::Running) {
            let action = t.action.as_deref().unwrap_or_default();
            let found = self
                .store
                .run_after_attempt(wf.id, &t.node, &t.node, action)?;
            let status = match found {
                Some((run_id, RunStatus::Succeeded)) => {
                    if let Some(node) = wf.graph.node(&t.node) {
                        self.unlink_if_removed(node)?;
                    }
                    self.store.finish_task(
                        wf.id,
                        &t.node,
                        TaskStatus::Succeeded,
                        Some(run_id),
                        None,
                    )?;
                    TaskStatus::Succeeded
                }
                other => {
                    self.store.finish_task(
                        wf.id,
                        &t.node,
                        TaskStatus::Pending,
                        other.map(|(r, _)| r),
                        Some("its process ended before the task did; it runs again"),
                    )?;
                    TaskStatus::Pending
                }
            };
            on_event(Event::Recovered {
                node: &t.node,
                status,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dependencies::{Graph, Node, Reason};
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    fn node(id: &str, after: &[&str], root: bool) -> Node {
        Node {
            id: id.into(),
            via: Vec::new(),
            at: "porter.yaml".into(),
            bundle: format!("r/{id}@sha256:0"),
            bundle_name: id.into(),
            version: "0.1.0".into(),
            action: Some("install".into()),
            reason: if root { Reason::Root } else { Reason::New },
            sharing: None,
            required_by: Vec::new(),
            parameters: BTreeMap::new(),
            credentials: BTreeMap::new(),
            defaults: BTreeMap::new(),
            sensitive_parameters: BTreeSet::new(),
            dependencies: BTreeMap::new(),
            promoted: BTreeMap::new(),
            after: after.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(),
            level: usize::from(!after.is_empty()),
        }
    }

    /// `top` after every other node; the others independent.
    fn graph(others: &[&str]) -> Graph {
        let mut nodes: Vec<Node> = others.iter().map(|o| node(o, &[], false)).collect();
        nodes.push(node("top", others, true));
        Graph {
            root: "top".into(),
            action: "install".into(),
            nodes,
        }
    }

    /// Records what ran; fails the nodes named in `fail`.
    struct Recorder {
        ran: Mutex<Vec<String>>,
        fail: Vec<&'static str>,
        now: AtomicUsize,
        peak: AtomicUsize,
        store: std::path::PathBuf,
    }

    impl Recorder {
        fn new(store: &std::path::Path, fail: Vec<&'static str>) -> Recorder {
            Recorder {
                ran: Mutex::new(Vec::new()),
                fail,
                now: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                store: store.to_path_buf(),
            }
        }
    }

    impl Executor for Recorder {
        fn execute(&self, task: TaskStart<'_>) -> TaskEnd {
            let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(n, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(30));
            self.now.fetch_sub(1, Ordering::SeqCst);
            self.ran.lock().unwrap().push(task.node.id.clone());
            if self.fail.contains(&task.node.id.as_str()) {
                return TaskEnd::Failed {
                    run_id: None,
                    error: "told to fail".into(),
                };
            }
            // A run recorded as the local executor's would be.
            let mut store = Store::open(&self.store).unwrap();
            let run_id = record_run(&mut store, &task.node.id);
            TaskEnd::Succeeded { run_id }
        }
    }

    fn record_run(store: &mut Store, installation: &str) -> i64 {
        store
            .record(&crate::store::RunRecord {
                installation,
                bundle: installation,
                version: "0.1.0",
                manifest: "r",
                action: "install",
                error: None,
                parameters: "{}",
                steps: &[],
                outputs: &[],
                state: &[],
                started: crate::store::now(),
            })
            .unwrap()
    }

    fn run(
        dir: &std::path::Path,
        id: i64,
        ex: &Recorder,
        parallel: usize,
    ) -> super::super::Workflow {
        let mut store = Store::open(&dir.join("state.db")).unwrap();
        let no_inputs = || Ok(Inputs::default());
        let mut engine = Engine {
            store: &mut store,
            lock_dir: dir.join("running"),
            parallel,
            root_inputs: &no_inputs,
        };
        engine.run(id, false, ex, &mut |_| {}).unwrap()
    }

    fn status(wf: &super::super::Workflow, node: &str) -> TaskStatus {
        wf.tasks.iter().find(|t| t.node == node).unwrap().status
    }

    #[test]
    fn a_task_a_killed_process_left_running_is_settled_from_its_recorded_run() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let mut store = Store::open(&db).unwrap();
        let id = store.create_workflow(&graph(&["x", "y"]), b"{}").unwrap();
        // x's process recorded its run and died before marking the task;
        // y's died mid-run.
        store.start_task(id, "x", 1).unwrap();
        record_run(&mut store, "x");
        store.start_task(id, "y", 1).unwrap();
        drop(store);
        let ex = Recorder::new(&db, vec![]);
        let wf = run(dir.path(), id, &ex, 4);
        assert_eq!(wf.status, WorkflowStatus::Succeeded);
        let mut ran = ex.ran.into_inner().unwrap();
        ran.sort();
        assert_eq!(ran, ["top", "y"], "x had succeeded and must not run again");
        let y = wf.tasks.iter().find(|t| t.node == "y").unwrap();
        assert_eq!(y.attempts, 2);
        assert_eq!(y.history[0].status, TaskStatus::Pending);
    }

    #[test]
    fn a_failed_task_stops_its_dependents_and_lets_independent_tasks_finish() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let id = Store::open(&db)
            .unwrap()
            .create_workflow(&graph(&["x", "y", "z"]), b"{}")
            .unwrap();
        let ex = Recorder::new(&db, vec!["x"]);
        let wf = run(dir.path(), id, &ex, 1);
        assert_eq!(wf.status, WorkflowStatus::Failed);
        assert_eq!(status(&wf, "x"), TaskStatus::Failed);
        assert_eq!(status(&wf, "y"), TaskStatus::Succeeded);
        assert_eq!(status(&wf, "z"), TaskStatus::Succeeded);
        assert_eq!(status(&wf, "top"), TaskStatus::Pending);
        assert!(wf.error.unwrap().contains("workflow retry"));
    }

    #[test]
    fn no_more_tasks_run_at_once_than_allowed_and_as_many_as_allowed_do() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let id = Store::open(&db)
            .unwrap()
            .create_workflow(&graph(&["a", "b", "c", "d", "e", "f"]), b"{}")
            .unwrap();
        let ex = Recorder::new(&db, vec![]);
        let wf = run(dir.path(), id, &ex, 3);
        assert_eq!(wf.status, WorkflowStatus::Succeeded);
        assert_eq!(ex.peak.load(Ordering::SeqCst), 3);
        // top ran last, after every other.
        assert_eq!(ex.ran.lock().unwrap().last().unwrap(), "top");
    }

    #[test]
    fn a_second_engine_on_a_running_workflow_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let id = Store::open(&db)
            .unwrap()
            .create_workflow(&graph(&["x"]), b"{}")
            .unwrap();
        let _held = lock(&dir.path().join("running"), id).unwrap();
        let mut store = Store::open(&db).unwrap();
        let no_inputs = || Ok(Inputs::default());
        let mut engine = Engine {
            store: &mut store,
            lock_dir: dir.path().join("running"),
            parallel: 1,
            root_inputs: &no_inputs,
        };
        let ex = Recorder::new(&db, vec![]);
        assert!(matches!(
            engine.run(id, false, &ex, &mut |_| {}),
            Err(WorkflowError::Busy { .. })
        ));
    }
}
