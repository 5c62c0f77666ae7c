//! Session handoff (`--login FLOW`, `--login-share K`): HTTP users get what a browser login
//! ended with. One login per group of K users (numbered in this process), run in the browser
//! pool (so logins wait for a free session: never more browsers than the machine holds), on
//! the main runtime beside the CDP handlers; its time is a `login` sample of the user's flow.

use super::users::Who;
use crate::metrics::{MetricKey, Mode, Outcome, Recorder, SampleKind, Sink};
use crate::plan::ThinkPolicy;
use crate::replay::browser::BrowserPool;
use crate::replay::fake::{Drawer, FakeOptions};
use crate::replay::handoff::{Handoff, HandoffTo};
use crate::replay::{PreparedFlow, Session, SessionOutcome, Vars};
use crate::sync::Locked;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// `--login`: the flow that logs in and how many HTTP users share one login.
#[derive(Clone)]
pub struct LoginSpec {
    pub flow: Arc<PreparedFlow>,
    /// `--login-share K`: users per login (at least 1).
    pub share: u64,
    /// The users of this flow only (a plan file's flow); None: of every flow without one.
    pub for_flow: Option<Arc<str>>,
    /// Most of these logins running at once: what the machine's CPU holds (set by the command
    /// line from the browser-fit estimate); None: as many as the browser pool holds.
    pub at_once: Option<usize>,
}

/// The run's logins when it has `--login` and HTTP users: in the browser lane's pool in a
/// hybrid run, else in a pool of their own.
pub(super) async fn start(
    spec: &super::RunSpec,
    runners: &[super::ModeRunner],
    browser: &crate::replay::browser::BrowserOptions,
    sink: &Sink,
) -> anyhow::Result<Option<Logins>> {
    if spec.logins.is_empty() || spec.mode != Mode::Http {
        return Ok(None);
    }
    let lane = runners.iter().find_map(|r| match r {
        super::ModeRunner::Browser(pool) => Some(pool.clone()),
        _ => None,
    });
    let (pool, own) = match lane {
        Some(pool) => (pool, false),
        None => (
            BrowserPool::launch(browser.clone(), sink.clone()).await?,
            true,
        ),
    };
    // The storage values the run's flows use: all a login reads from its page.
    let mut names = Vec::new();
    for f in &spec.flows {
        let text = serde_json::to_string(&f.flow.flow).unwrap_or_default();
        for name in crate::replay::handoff::storage_names(&text) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let mut logins = Logins::new(
        spec.logins.clone(),
        pool,
        own,
        sink.clone(),
        spec.plan.think.clone(),
        spec.fake,
    );
    logins.storage_names = names.into();
    Ok(Some(logins))
}

/// Logins running at once, per login flow (the pool's sessions bound them all too).
fn slots(specs: &[LoginSpec]) -> Vec<tokio::sync::Semaphore> {
    specs
        .iter()
        .map(|s| {
            let n = s.at_once.unwrap_or(tokio::sync::Semaphore::MAX_PERMITS);
            tokio::sync::Semaphore::new(n.clamp(1, tokio::sync::Semaphore::MAX_PERMITS))
        })
        .collect()
}

/// One login shared by up to `share` users: the first to come runs it, the others wait.
#[derive(Default)]
struct Group {
    handoff: tokio::sync::Mutex<Option<Arc<Handoff>>>,
    /// Users that took the handoff; the group is forgotten once all of them have.
    taken: AtomicU64,
}

/// The run's logins.
pub(super) struct Logins {
    specs: Vec<LoginSpec>,
    pool: Arc<BrowserPool>,
    /// Whether the pool is the logins' own (shut down with them) or the browser lane's.
    own_pool: bool,
    /// The main runtime: logins wait on Chromium there, not on the HTTP users' threads.
    main: tokio::runtime::Handle,
    /// By (login, group number).
    groups: Mutex<HashMap<(usize, u64), Arc<Group>>>,
    /// Per login flow: its logins running now (see [`LoginSpec::at_once`]).
    running: Vec<tokio::sync::Semaphore>,
    sink: Sink,
    think: ThinkPolicy,
    fake: FakeOptions,
    /// `${storage.NAME}` names the run's flows use (see [`HandoffTo`]).
    storage_names: Arc<[String]>,
}

impl Logins {
    pub fn new(
        specs: Vec<LoginSpec>,
        pool: Arc<BrowserPool>,
        own_pool: bool,
        sink: Sink,
        think: ThinkPolicy,
        fake: FakeOptions,
    ) -> Self {
        Logins {
            running: slots(&specs),
            specs,
            pool,
            own_pool,
            main: tokio::runtime::Handle::current(),
            groups: Mutex::new(HashMap::new()),
            sink,
            think,
            fake,
            storage_names: Arc::from(Vec::new()),
        }
    }

    /// The login for the users of `flow`: its own (a plan file's), else the command line's.
    fn spec_for(&self, flow: &str) -> Option<usize> {
        let own = self
            .specs
            .iter()
            .position(|s| s.for_flow.as_deref() == Some(flow));
        own.or_else(|| self.specs.iter().position(|s| s.for_flow.is_none()))
    }

    /// The handoff for user `who` of flow `flow`: its group's, logging in first when the
    /// group has none yet; None when the flow has no login. `Err` is the outcome the user's
    /// session then has.
    pub async fn handoff(
        &self,
        who: Who,
        flow: &Arc<str>,
        recorder: &Recorder,
        cancel: &CancellationToken,
    ) -> Result<Option<Arc<Handoff>>, SessionOutcome> {
        let Some(ix) = self.spec_for(flow) else {
            return Ok(None);
        };
        let spec = &self.specs[ix];
        let share = spec.share.max(1);
        let key = (ix, who.id / share);
        let group = self.groups.locked().entry(key).or_default().clone();
        let mut slot = tokio::select! {
            slot = group.handoff.lock() => slot,
            _ = cancel.cancelled() => return Err(SessionOutcome::Cancelled),
        };
        let handoff = match slot.as_ref() {
            Some(h) => h.clone(),
            None => {
                // Its time is the login's own: from its turn (logins wait for one when the
                // machine holds no more at once) to the handoff.
                let mut started = Instant::now();
                let result = tokio::select! {
                    running = self.running[ix].acquire() => match running {
                        Ok(_running) => {
                            started = Instant::now();
                            self.log_in(spec, who, cancel).await
                        }
                        Err(_) => Err(SessionOutcome::Cancelled),
                    },
                    _ = cancel.cancelled() => Err(SessionOutcome::Cancelled),
                };
                let outcome = match &result {
                    Ok(_) => Outcome::Ok,
                    Err(SessionOutcome::Cancelled) => Outcome::Interrupted,
                    Err(_) => Outcome::Error,
                };
                let key = MetricKey::new(
                    Mode::Http,
                    flow.clone(),
                    None,
                    SampleKind::Login,
                    spec.flow.name.clone(),
                );
                recorder.record(&key, started.elapsed(), outcome);
                let handoff = Arc::new(result?);
                self.sink.count("logins.handed_off", 1);
                *slot = Some(handoff.clone());
                handoff
            }
        };
        drop(slot);
        if group.taken.fetch_add(1, Ordering::Relaxed) + 1 >= share {
            self.groups.locked().remove(&key);
        }
        Ok(Some(handoff))
    }

    /// Runs the login flow once in the pool, on the main runtime.
    async fn log_in(
        &self,
        spec: &LoginSpec,
        who: Who,
        cancel: &CancellationToken,
    ) -> Result<Handoff, SessionOutcome> {
        let flow = spec.flow.clone();
        let pool = self.pool.clone();
        // The login's own pages and requests are not the measured load: its whole time is
        // the one `login` sample of the user's flow.
        let recorder = self.sink.recorder(who.id).muted();
        let think = self.think.clone();
        let fake = self.fake;
        let cancel = cancel.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = HandoffTo {
            names: self.storage_names.clone(),
            to: tx,
        };
        let task = self.main.spawn(async move {
            let mut vars = Vars::new();
            let drawer = Drawer {
                user: who.number,
                iteration: 0,
            };
            flow.fakes.draw(&fake, drawer, &mut vars);
            flow.sources
                .draw(&mut vars)
                .map_err(|e| SessionOutcome::Failed(format!("login flow `{}`: {e}", flow.name)))?;
            let session = Session {
                flow: &flow,
                user_id: who.id,
                vars: &mut vars,
                recorder: &recorder,
                think: &think,
                cancel: &cancel,
                dwell: Duration::ZERO,
                handoff: None,
            };
            Err(match pool.run_login(session, tx).await {
                SessionOutcome::Failed(why) => {
                    SessionOutcome::Failed(format!("login flow `{}` failed: {why}", flow.name))
                }
                SessionOutcome::Lost => SessionOutcome::Failed(format!(
                    "login flow `{}`: its browser was lost",
                    flow.name
                )),
                SessionOutcome::Completed => SessionOutcome::Failed(format!(
                    "login flow `{}` handed nothing over",
                    flow.name
                )),
                other => other,
            })
        });
        // The handoff comes as soon as the login's steps passed; the session then leaves its
        // page on its own. Without one, the session's outcome says why.
        if let Ok(handoff) = rx.await {
            return Ok(handoff);
        }
        match task.await {
            Ok(result) => result,
            Err(e) => Err(SessionOutcome::Failed(format!(
                "login flow `{}`: {e}",
                spec.flow.name
            ))),
        }
    }

    /// Closes the logins' own browsers (a hybrid run's browser lane closes its own).
    pub async fn shutdown(&self) {
        if self.own_pool {
            self.pool.shutdown().await;
        }
    }
}
