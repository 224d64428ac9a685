//! `dns-xdp run`: loads the config and zones, fills and attaches the fast path, and serves the
//! fallback until SIGINT or SIGTERM. SIGHUP (or `dns-xdp reload`) reloads the config and every
//! zone; a reload that fails in any way changes nothing, so the previous zones stay served.
//! ALIAS targets outside our zones are resolved before serving and kept fresh while serving;
//! an answer that changes is published like a reload. Health changes update the pools' answers
//! in place.
//!
//! Everything that goes into service goes through the [`publisher::Publisher`]: one event loop
//! here decides when, the publisher how.

pub mod open_files;
pub mod pid_file;
pub mod publisher;
mod report;

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{anyhow, Context, Result};
use tokio::{
    signal::unix::{signal, SignalKind},
    sync::mpsc::UnboundedReceiver,
    task::JoinHandle,
};

use crate::{
    alias::{refresh::Refresher, upstream::Upstreams, Flattened},
    catalog::Loaded,
    config::{ServerConfig, XdpAttachMode},
    fallback::{
        query_stats::QueryStats,
        server::{Listeners, SharedResponder},
    },
    fastpath::{
        address_watch::AddressWatch,
        addresses::{served_addresses, subnet_edges},
        dataplane::{Attached, Dataplane},
    },
    health::{Checker, HealthChange, HealthState, Target},
    metrics::{self, Metrics, TargetHealth},
    status::{
        share::{self, Samples},
        socket::StatusSocket,
        AttachMode,
    },
    steering::traffic::Traffic,
    zone::Name,
};
use publisher::{Delta, FastPathUpdate, Publication, Publisher};

/// How long the agent waits at start for the first answers of ALIAS targets outside our zones
/// before it serves without them (their aliases answer NODATA until they come).
const FIRST_RESOLUTION_LIMIT: Duration = Duration::from_secs(5);

/// How soon a publication the kernel did not take whole is tried again, doubling up to
/// [`MAX_REPAIR_DELAY`] while it keeps failing.
const FIRST_REPAIR_DELAY: Duration = Duration::from_secs(1);
const MAX_REPAIR_DELAY: Duration = Duration::from_secs(60);

pub struct RunOptions {
    pub config: PathBuf,
    /// Overrides `[server] xdp_mode`.
    pub xdp_mode: Option<XdpAttachMode>,
    pub pin_dir: PathBuf,
    /// Where to write the agent's pid while it serves, for `dns-xdp reload`.
    pub pid_file: Option<PathBuf>,
    /// Where to answer `dns-xdp status`.
    pub status_socket: PathBuf,
}

/// How a serving agent ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// SIGINT or SIGTERM: the fast path detached, the pins removed.
    Stopped,
    /// SIGUSR2: the fast path left attached and pinned for the next agent to take over.
    HandedOver,
}

/// The exit status of an agent that handed over (EX_TEMPFAIL: come back, the work goes on), so
/// a service manager can start the next one (`RestartForceExitStatus=75`) and not restart one
/// that was stopped.
pub const HANDOVER_EXIT_STATUS: u8 = 75;

pub async fn run(options: RunOptions) -> Result<Ended> {
    let started = SystemTime::now();
    // First of all: SIGHUP's default action would kill an agent that is still starting up.
    // One that arrives now is kept and handled as a reload once the agent serves.
    let mut sighup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut sigusr2 = signal(SignalKind::user_defined2()).context("installing SIGUSR2 handler")?;

    let config_path = options.config.clone();
    let (loaded, mut traffic) = tokio::task::spawn_blocking(move || load(&config_path))
        .await
        .map_err(|e| anyhow!("reading the config and zones panicked: {e}"))??;
    // Health first: pools answer from members known to be up, and a taken-over fast path keeps
    // the previous agent's answers until these are known.
    let (checker, mut health_changes) = Checker::new();
    let checker = Arc::new(checker);
    let targets = traffic.targets();
    if !targets.is_empty() {
        checker.set_targets(targets.iter().cloned());
        let limit = first_round_limit(&targets);
        if !checker.first_round(Instant::now() + limit).await {
            log::warn!(
                "not every health check reported within {limit:?}; members not checked yet \
                 count as up"
            );
        }
    }
    let upstreams = Upstreams::new(loaded.config.server.upstream.clone());
    let mut refresher = Refresher::new(upstreams.clone());
    refresher.set_targets(upstreams, loaded.upstream_targets());
    if !refresher.is_empty() {
        refresher.resolve_for(FIRST_RESOLUTION_LIMIT).await;
    }
    traffic.recompute(|t| checker.state(t));
    let upstream = upstream_answers(&loaded, refresher.answers());
    let publication = tokio::task::block_in_place(|| {
        Publication::render(
            loaded.snapshot(&upstream),
            &traffic,
            loaded.config.server.edns_payload,
        )
    });
    let config = &loaded.config;
    let mut server = config.server.clone();
    server.xdp_mode = options.xdp_mode.unwrap_or(config.server.xdp_mode);
    for skip in &publication.skipped {
        log::info!("{skip}");
    }

    // Bind before touching XDP: a busy port must not leave a program attached.
    let listeners = Listeners::bind(&server.listen).await?;
    let metrics_listener = match &config.metrics {
        Some(m) => Some(metrics::bind(m.listen).await?),
        None => None,
    };
    let mut status_socket = StatusSocket::bind(&options.status_socket)?;
    let responder = SharedResponder::new(publication.responder());
    let answers = publication.answers();
    let (publisher, how, attached, served_at_start) = match server.xdp_mode {
        XdpAttachMode::Off => {
            let mut publisher = Publisher::new(None, responder.clone());
            publisher.full(publication)?;
            (
                publisher,
                "XDP off".to_string(),
                None,
                HostAddresses::default(),
            )
        }
        mode => start_fast_path(publication, &responder, &server, mode, &options.pin_dir)?,
    };
    let query_stats = Arc::new(QueryStats::default());
    let metrics = metrics_listener.map(|listener| {
        let pin_dir = publisher.fast_path().map(|_| options.pin_dir.clone());
        let metrics = Arc::new(Metrics::new(pin_dir, query_stats.clone()));
        metrics.set_health_source(health_source(checker.clone()));
        tokio::spawn(metrics::serve(listener, metrics.clone()));
        metrics
    });
    let samples = Arc::new(Samples::default());
    let sampler = tokio::spawn(share::sample(
        publisher.fast_path().map(|_| options.pin_dir.clone()),
        query_stats.clone(),
        samples.clone(),
    ));
    // Few at a time: a report takes the event loop a moment, and `status` is for people.
    let (status_requests, mut asked_status) = tokio::sync::mpsc::channel(4);
    let status_server = tokio::spawn(status_socket.serve(status_requests)?);
    let _pid_file = options
        .pid_file
        .as_deref()
        .map(pid_file::PidFile::create)
        .transpose()?;

    let listening: Vec<String> = listeners
        .local_addrs()
        .iter()
        .map(|a| a.to_string())
        .collect();
    println!(
        "dns-xdp: serving {} zone(s) and {} pool(s), {answers} fast-path answers, fallback on \
         {}; {how}",
        config.zones.len(),
        traffic.pools(),
        listening.join(", "),
    );

    // A wildcard listen address stands for every address the host has, now and later.
    let mut address_watch = None;
    if publisher.fast_path().is_some() && server.listen.iter().any(|a| a.ip().is_unspecified()) {
        match AddressWatch::open() {
            Ok(watch) => address_watch = Some(watch),
            Err(e) => log::warn!(
                "cannot watch this host's addresses ({e}); the fast path answers for the \
                 addresses it had at start, until a reload reads them again"
            ),
        }
    }
    let mut agent = Running {
        config_path: options.config,
        cli_xdp_mode: options.xdp_mode,
        server,
        publisher,
        loaded: Arc::new(loaded),
        upstream,
        metrics,
        traffic,
        checker,
        renew_retry: None,
        repair_delay: FIRST_REPAIR_DELAY,
        repair_due: None,
        served: served_at_start,
        status: report::Sources {
            started,
            attached,
            pin_dir: options.pin_dir.clone(),
            listening: listening.clone(),
            query_stats: query_stats.clone(),
            samples,
        },
    };
    agent.record_publication();
    let tcp_limits = open_files::fit(agent.server.tcp_limits());
    let serve = listeners.serve(responder, query_stats, tcp_limits);
    tokio::pin!(serve);
    // Zones load on a blocking thread while the select keeps answering signals, so a SIGTERM
    // is not held up by a large zone. A SIGHUP during a load asks for another one after it:
    // the files may have changed after they were read.
    let mut loading: Option<JoinHandle<Result<Ready>>> = None;
    let mut again = false;
    let mut handed_over = false;
    loop {
        let due = refresher.next_due();
        let renew_due = agent.renew_due();
        let repair_due = agent.repair_due;
        tokio::select! {
            _ = &mut serve => break,
            _ = sigint.recv() => {
                log::info!("SIGINT: shutting down");
                break;
            }
            _ = sigterm.recv() => {
                log::info!("SIGTERM: shutting down");
                break;
            }
            _ = sigusr2.recv() => {
                log::info!("SIGUSR2: handing over: exiting with the fast path left attached");
                if let Some(dataplane) = agent.publisher.fast_path_mut() {
                    dataplane.hand_over();
                    handed_over = true;
                }
                break;
            }
            _ = sighup.recv() => {
                if loading.is_some() {
                    again = true;
                } else {
                    loading = Some(agent.start_loading(refresher.answers()));
                }
            }
            loaded = async { loading.as_mut().expect("guarded").await }, if loading.is_some() => {
                loading = None;
                agent.finish_reload(
                    loaded.unwrap_or_else(|e| {
                        Err(anyhow!("reading the config and zones panicked: {e}"))
                    }),
                    &mut refresher,
                );
                if std::mem::take(&mut again) {
                    loading = Some(agent.start_loading(refresher.answers()));
                }
            }
            Some(change) = health_changes.recv() => agent.health_changed(change, &mut health_changes),
            Some(reply) = asked_status.recv() => {
                let _ = reply.send(agent.report());
            }
            _ = sleep_until(due), if due.is_some() => refresher.start_due(),
            _ = sleep_until(renew_due), if renew_due.is_some() => agent.renew_signatures(),
            _ = sleep_until(repair_due), if repair_due.is_some() => agent.repair(),
            changed = async { address_watch.as_mut().expect("guarded").changed().await },
                if address_watch.is_some() =>
            {
                match changed {
                    Ok(()) => agent.refresh_addresses(),
                    Err(e) => {
                        log::error!(
                            "watching this host's addresses failed ({e}); the fast path keeps \
                             the addresses it has until a reload reads them again"
                        );
                        address_watch = None;
                    }
                }
            }
            lookup = refresher.next_finished() => {
                refresher.finish(lookup);
                // Also after a lookup that changed nothing: a publish that failed is retried.
                agent.republish_if_stale(refresher.answers());
            }
        }
    }
    // No `status` answers for an agent that is going: the socket goes first.
    status_server.abort();
    sampler.abort();
    drop(status_socket);
    // Dropping the dataplane detaches the program and removes the pins, unless handed over.
    drop(agent);
    if handed_over {
        println!(
            "dns-xdp: stopped; the fast path stays attached and answering for the next agent to \
             take over"
        );
        Ok(Ended::HandedOver)
    } else {
        println!("dns-xdp: stopped");
        Ok(Ended::Stopped)
    }
}

/// Reads the config and its zones and builds the pools' engine (blocking: a geo database has
/// hundreds of thousands of networks).
fn load(config_path: &Path) -> Result<(Loaded, Traffic)> {
    let loaded = Loaded::read(config_path)?;
    let traffic = Traffic::load(loaded.traffic.clone())
        .map_err(|e| anyhow!("config file {}: {e}", config_path.display()))?;
    Ok((loaded, traffic))
}

/// The answers of `loaded`'s upstream ALIAS targets among `all`, the last good answers by
/// target.
fn upstream_answers(loaded: &Loaded, all: &HashMap<Name, Flattened>) -> HashMap<Name, Flattened> {
    let targets = loaded.upstream_targets();
    all.iter()
        .filter(|(target, _)| targets.contains(target))
        .map(|(target, answer)| (target.clone(), answer.clone()))
        .collect()
}

/// A reload, read and rendered, ready to put in service.
struct Ready {
    loaded: Loaded,
    traffic: Traffic,
    /// The upstream answers the snapshot holds, by target.
    upstream: HashMap<Name, Flattened>,
    publication: Publication,
}

async fn sleep_until(due: Option<Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
    }
}

/// A serving agent's state, as far as a reload changes it.
struct Running {
    config_path: PathBuf,
    cli_xdp_mode: Option<XdpAttachMode>,
    /// The settings in effect (`xdp_mode` after the command-line override). Only
    /// `edns_payload` can change without a restart.
    server: ServerConfig,
    publisher: Publisher<Dataplane>,
    /// The config and zones in service, which snapshots are made from again when an upstream
    /// answer changes or signatures are due for renewal.
    loaded: Arc<Loaded>,
    /// The upstream answers of ALIAS targets in the snapshot being served, by target.
    upstream: HashMap<Name, Flattened>,
    metrics: Option<Arc<Metrics>>,
    traffic: Traffic,
    checker: Arc<Checker>,
    /// Not before this is a failed renewal of signatures tried again.
    renew_retry: Option<Instant>,
    /// How long the next repair waits, and when it is due.
    repair_delay: Duration,
    repair_due: Option<Instant>,
    /// The addresses the fast path answers for, and the subnet edges it never answers.
    served: HostAddresses,
    /// What `dns-xdp status` reports beside the above.
    status: report::Sources,
}

impl Running {
    /// Reads the config and zones on a blocking thread, and flattens the aliases with
    /// `upstream`, the last good answers of their targets.
    fn start_loading(&self, upstream: &HashMap<Name, Flattened>) -> JoinHandle<Result<Ready>> {
        log::info!(
            "SIGHUP: reloading {} and its zones",
            self.config_path.display()
        );
        let path = self.config_path.clone();
        let upstream = upstream.clone();
        let checker = self.checker.clone();
        // Members kept from the running config keep their health; new ones count as up until
        // checked (the checker starts on them once the reload is in service).
        tokio::task::spawn_blocking(move || {
            let (loaded, mut traffic) = load(&path)?;
            traffic.recompute(|t| checker.state(t));
            let upstream = upstream_answers(&loaded, &upstream);
            let publication = Publication::render(
                loaded.snapshot(&upstream),
                &traffic,
                loaded.config.server.edns_payload,
            );
            Ok(Ready {
                loaded,
                traffic,
                upstream,
                publication,
            })
        })
    }

    fn finish_reload(&mut self, loaded: Result<Ready>, refresher: &mut Refresher) {
        match loaded.and_then(|new| self.apply(new, refresher)) {
            Ok(summary) => {
                println!("dns-xdp: reloaded {summary}");
                // An upstream answer may have changed while the files were read.
                self.republish_if_stale(refresher.answers());
            }
            Err(e) => log::error!(
                "reload failed, nothing changed: still serving the previous zones ({}); fix the \
                 problem below and reload again (SIGHUP or `dns-xdp reload`): {}",
                self.publisher.serving(),
                crate::error::describe(&e)
            ),
        }
    }

    /// Puts `new` in service and resolves its aliases' upstream targets afresh (the last good
    /// answers are kept meanwhile).
    fn apply(&mut self, new: Ready, refresher: &mut Refresher) -> Result<String> {
        let new_server = &new.loaded.config.server;
        for change in needs_restart(&self.server, self.cli_xdp_mode, new_server) {
            log::warn!("reload: {change} needs a restart; the running agent keeps the old value");
        }
        for skip in &new.publication.skipped {
            log::info!("{skip}");
        }
        let edns_payload = new_server.edns_payload;
        let fast_path = self.publish(new.publication)?;
        self.server.edns_payload = edns_payload;
        self.traffic = new.traffic;
        self.checker.set_targets(self.traffic.targets());
        refresher.set_targets(
            Upstreams::new(new.loaded.config.server.upstream.clone()),
            new.loaded.upstream_targets(),
        );
        self.refresh_addresses();
        let zones = new.loaded.config.zones.len();
        self.loaded = Arc::new(new.loaded);
        self.upstream = new.upstream;
        Ok(format!(
            "{zones} zone(s) from {}: {fast_path}",
            self.config_path.display()
        ))
    }

    /// Publishes the snapshot of the zones in service made afresh (aliases flattened with
    /// `upstream`): rendering it signs what is due anew.
    fn republish(&mut self, upstream: &HashMap<Name, Flattened>) -> Result<String> {
        let loaded = self.loaded.clone();
        // Copying and rendering large zones takes a while: keep this worker's other tasks
        // moving (the agent runs on the multi-threaded runtime).
        let publication = tokio::task::block_in_place(|| {
            Publication::render(
                loaded.snapshot(upstream),
                &self.traffic,
                self.server.edns_payload,
            )
        });
        self.publish(publication)
    }

    /// Puts `publication` in service on both paths and says what the fast path now serves.
    fn publish(&mut self, publication: Publication) -> Result<String> {
        let full = self.publisher.full(publication)?;
        // Rendered now, so signed now: a renewal that failed before is done.
        self.renew_retry = None;
        self.record_publication();
        let fast_path = match self.publisher.fast_path() {
            Some(_) => format!(
                "{} fast-path answers published (generation {})",
                full.answers, full.generation
            ),
            None => "XDP off".to_string(),
        };
        if let Some(e) = full.leftovers {
            log::warn!(
                "generation {} is live on both paths, but removing the previous generation's \
                 entries failed: {e}; nothing answers from them, they take room in the answer \
                 map until removed (retrying)",
                full.generation
            );
            self.schedule_repair();
        }
        Ok(fast_path)
    }

    /// Flattens the aliases again if an upstream answer changed since the snapshot being
    /// served was made, and publishes it. A failure is logged and tried again after the next
    /// lookup; the previous answers stay in service.
    fn republish_if_stale(&mut self, all: &HashMap<Name, Flattened>) {
        let current = upstream_answers(&self.loaded, all);
        if current == self.upstream {
            return;
        }
        match self.republish(&current) {
            Ok(fast_path) => {
                self.upstream = current;
                println!("dns-xdp: ALIAS answers changed: {fast_path}");
            }
            Err(e) => log::error!(
                "publishing changed ALIAS answers failed; still serving the previous ones: {}",
                crate::error::describe(&e)
            ),
        }
    }

    /// When to renew the fast path's signatures: at their renewal time, and never sooner than
    /// a second from now (a clock set back must not make the agent spin).
    fn renew_due(&self) -> Option<Instant> {
        let at = self.publisher.renew_at()?;
        let wait = at.saturating_sub(crate::dnssec::unix_now()).max(1);
        let due = Instant::now() + Duration::from_secs(wait);
        Some(self.renew_retry.map_or(due, |retry| due.max(retry)))
    }

    /// Publishes the snapshot afresh once the fast path's signatures are due for renewal:
    /// rendering signs anew (the signer's cache no longer hands out the old signatures), as
    /// the fallback now does. A whole new generation rather than changes in place: the
    /// signatures of a zone were all made together, so nearly every entry changes, and a new
    /// generation is written aside and flipped at once. The old signatures stay valid for
    /// `SigningConfig::refresh` after this (42 h by default), so a failure is logged and retried
    /// in an hour or at the next reload.
    fn renew_signatures(&mut self) {
        let upstream = self.upstream.clone();
        match self.republish(&upstream) {
            Ok(fast_path) => println!("dns-xdp: signatures renewed: {fast_path}"),
            Err(e) => {
                log::error!(
                    "publishing renewed signatures failed; the fast path keeps the previous ones, \
                     valid for a while yet; retrying in an hour: {}",
                    crate::error::describe(&e)
                );
                // The publisher's renewal time stays in the past: wait an hour, not a second.
                self.renew_retry = Some(Instant::now() + Duration::from_secs(3600));
            }
        }
    }

    /// Recomputes the pools after health changes (`first` and whatever else is queued) and
    /// puts the answers that changed in service: in place in the fast path, entry by entry,
    /// and as a new pool table in the fallback. The zones are not touched.
    fn health_changed(
        &mut self,
        first: HealthChange,
        queued: &mut UnboundedReceiver<HealthChange>,
    ) {
        let mut changes = vec![first];
        while let Ok(change) = queued.try_recv() {
            changes.push(change);
        }
        // A change queued for a target a reload has since dropped means nothing now.
        let targets: HashSet<Target> = self.traffic.targets().into_iter().collect();
        changes.retain(|c| targets.contains(&c.target));
        if changes.is_empty() {
            return;
        }
        let started = Instant::now();
        let checker = self.checker.clone();
        let lines = self.traffic.recompute(|t| checker.state(t));
        if lines.is_empty() {
            return;
        }
        // Thousands of pools take a few hundred milliseconds: keep this worker's other tasks
        // moving meanwhile (the agent runs on the multi-threaded runtime).
        let update =
            tokio::task::block_in_place(|| self.publisher.delta(Delta::Pools(&self.traffic)));
        let took = started.elapsed();
        self.record_publication();
        let fast_path = self.describe_update(update);
        let because: Vec<String> = changes
            .iter()
            .map(|c| format!("{} went {:?} ({})", c.target, c.new, c.reason))
            .collect();
        for line in &lines {
            tracing::info!(change = %line, because = %because.join("; "), "steering: answer changed");
        }
        tracing::info!(
            changes = lines.len(),
            took = ?took,
            fast_path = %fast_path,
            "steering: published"
        );
    }

    /// What a change in place did to the fast path, for the log; schedules a repair when it
    /// did not all go through.
    fn describe_update(&mut self, update: FastPathUpdate) -> String {
        match update {
            FastPathUpdate::Off => "XDP off".to_string(),
            FastPathUpdate::Done(updated) => {
                self.repair_delay = FIRST_REPAIR_DELAY;
                format!(
                    "{} fast-path entries written, {} deleted",
                    updated.written, updated.deleted
                )
            }
            FastPathUpdate::Partial {
                done,
                total,
                stale,
                error,
            } => {
                let stale: Vec<String> = stale
                    .iter()
                    .map(|(name, rtype)| format!("{name} {rtype}"))
                    .collect();
                log::error!(
                    "the fallback serves the new answers, but the fast path took only {done} of \
                     {total} changes ({error}): it still serves the previous answers of {}; \
                     retrying in {:?}",
                    stale.join(", "),
                    self.repair_delay
                );
                self.schedule_repair();
                format!("{done} of {total} fast-path changes made")
            }
        }
    }

    fn schedule_repair(&mut self) {
        self.repair_due = Some(Instant::now() + self.repair_delay);
        self.repair_delay = (self.repair_delay * 2).min(MAX_REPAIR_DELAY);
    }

    /// Tries again what the kernel did not take: the pools it still lacks, what a publication
    /// left behind, signatures whose renewal failed.
    fn repair(&mut self) {
        self.repair_due = None;
        if !self.publisher.needs_repair() {
            return;
        }
        let (pools, leftovers) = self.publisher.repair();
        if let Some(update) = pools {
            let fast_path = self.describe_update(update);
            log::info!("repair of the fast path's pools: {fast_path}");
        }
        match leftovers {
            Some(e) => {
                log::warn!("removing the previous generation's entries failed again: {e}");
                self.schedule_repair();
            }
            None if !self.publisher.needs_repair() => {
                self.repair_delay = FIRST_REPAIR_DELAY;
                log::info!("the fast path holds what was published");
            }
            None => {}
        }
        self.record_publication();
    }

    /// Re-reads the addresses the fast path answers for: the `listen` addresses, wildcards
    /// standing for every address the host has now.
    fn refresh_addresses(&mut self) {
        let Some(dataplane) = self.publisher.fast_path_mut() else {
            return;
        };
        let now = match served_addresses(&self.server.listen).and_then(|served| {
            let edges = subnet_edges()?;
            Ok((served, edges))
        }) {
            Ok(now) => now,
            Err(e) => {
                log::error!("listing this host's addresses failed: {e}");
                return;
            }
        };
        if now == self.served {
            return;
        }
        match dataplane.serve_addresses(now.0.iter().copied(), now.1.iter().copied()) {
            Ok(()) => {
                log::info!(
                    "fast path answers queries to {}",
                    describe_addresses(&now.0)
                );
                self.served = now;
            }
            Err(e) => log::error!("updating the addresses the fast path answers for failed: {e}"),
        }
    }

    /// Tells the metrics endpoint what is now served.
    fn record_publication(&self) {
        if let Some(metrics) = &self.metrics {
            metrics.published(
                self.publisher.generation(),
                self.publisher.snapshot().serials(),
            );
        }
    }
}

/// Loads the fast path, fills it with `publication` and attaches it to the interface; returns
/// the publisher and how the fast path runs, for the log.
fn start_fast_path(
    publication: Publication,
    responder: &SharedResponder,
    server: &ServerConfig,
    mode: XdpAttachMode,
    pin_dir: &Path,
) -> Result<(
    Publisher<Dataplane>,
    String,
    Option<AttachMode>,
    HostAddresses,
)> {
    let interface = server
        .interface
        .as_deref()
        .expect("validated: interface is set unless xdp_mode is off");
    let capacity = u32::try_from(publication.answers()).unwrap_or(u32::MAX / 2);
    let mut dataplane = Dataplane::load(capacity, server.edns_payload, Some(pin_dir))?;
    let served = served_addresses(&server.listen)
        .context("listing this host's addresses for the wildcard listen addresses")?;
    let edges = subnet_edges().context("listing the subnets of this host's interfaces")?;
    log::info!(
        "fast path answers queries to {}",
        describe_addresses(&served)
    );
    dataplane.serve_addresses(served.iter().copied(), edges.iter().copied())?;
    let inherited = dataplane.inherited_generation();
    let mut publisher = Publisher::new(Some(dataplane), responder.clone());
    let attached = match inherited {
        // A dead agent's program is answering from its maps: replace the program first, so the
        // fast path never stops, then its answers with ours (computed after every health
        // check reported, so they are as good as the previous agent's).
        Some(inherited) => {
            let attached = publisher
                .fast_path_mut()
                .expect("XDP on")
                .attach(interface, mode)?;
            log::info!(
                "took over the fast path on {interface}, which answered from the previous \
                 agent's generation {inherited} until now"
            );
            publisher.full(publication)?;
            attached
        }
        // Answers go in before the program is attached, so the first query already hits.
        None => {
            publisher.full(publication)?;
            publisher
                .fast_path_mut()
                .expect("XDP on")
                .attach(interface, mode)?
        }
    };
    let (attached, mode) = match attached {
        Attached::Native => ("native", AttachMode::Native),
        Attached::Skb => ("skb", AttachMode::Skb),
        Attached::TookOver => ("taken over", AttachMode::TakenOver),
    };
    let how = format!(
        "XDP {attached} on {interface} (generation {}, maps pinned in {})",
        publisher.generation(),
        pin_dir.display()
    );
    Ok((publisher, how, Some(mode), (served, edges)))
}

/// The addresses the fast path answers for, and those of this host's subnets no query can come
/// from (network and broadcast addresses).
type HostAddresses = (BTreeSet<IpAddr>, BTreeSet<IpAddr>);

fn describe_addresses(served: &BTreeSet<IpAddr>) -> String {
    let all: Vec<String> = served.iter().map(IpAddr::to_string).collect();
    all.join(", ")
}

/// The changes in `new` a running agent cannot make: each says what changed.
fn needs_restart(
    running: &ServerConfig,
    cli_xdp_mode: Option<XdpAttachMode>,
    new: &ServerConfig,
) -> Vec<String> {
    let mut changes = Vec::new();
    if new.interface != running.interface {
        changes.push(format!(
            "[server] interface changed from {:?} to {:?}",
            running.interface, new.interface
        ));
    }
    let xdp_mode = cli_xdp_mode.unwrap_or(new.xdp_mode);
    if xdp_mode != running.xdp_mode {
        changes.push(format!(
            "[server] xdp_mode changed from {:?} to {:?}",
            running.xdp_mode, xdp_mode
        ));
    }
    let mut old_listen = running.listen.clone();
    let mut new_listen = new.listen.clone();
    old_listen.sort();
    old_listen.dedup();
    new_listen.sort();
    new_listen.dedup();
    if new_listen != old_listen {
        changes.push(format!(
            "[server] listen changed from {:?} to {:?}",
            running.listen, new.listen
        ));
    }
    if new.tcp_limits() != running.tcp_limits() {
        changes.push("[server] tcp_* changed".to_string());
    }
    changes
}

/// How long the agent waits at start for every health check's first result: the first
/// check of each target starts within a second (see `health`), then takes up to its timeout.
fn first_round_limit(targets: &[Target]) -> Duration {
    let slowest = targets
        .iter()
        .map(|t| t.spec.timeout())
        .max()
        .unwrap_or_default();
    Duration::from_secs(1) + slowest + Duration::from_millis(500)
}

/// The checker's state for the metrics endpoint, read at each scrape.
fn health_source(checker: Arc<Checker>) -> crate::metrics::HealthSource {
    Box::new(move || {
        let targets = checker
            .snapshot()
            .into_iter()
            .map(|status| TargetHealth {
                target: SocketAddr::new(status.target.address, status.target.spec.port())
                    .to_string(),
                check: status.target.spec.name().to_string(),
                up: match status.state {
                    HealthState::Up => Some(true),
                    HealthState::Down => Some(false),
                    HealthState::Unknown => None,
                },
                latency: status.last_result.as_ref().map(|r| r.latency),
                last_check: status.last_check,
            })
            .collect();
        (targets, checker.liveness())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(text: &str) -> ServerConfig {
        #[derive(serde::Deserialize)]
        struct Wrapper {
            server: ServerConfig,
        }
        toml::from_str::<Wrapper>(text).unwrap().server
    }

    #[test]
    fn restart_needed_for_interface_mode_listen_and_tcp_limits_only() {
        let running = server(
            "[server]\ninterface = \"eth0\"\nlisten = [\"192.0.2.1:53\", \"[2001:db8::1]:53\"]\n",
        );
        let same = server(
            "[server]\ninterface = \"eth0\"\nxdp_mode = \"native\"\nedns_payload = 1400\n\
             listen = [\"[2001:db8::1]:53\", \"192.0.2.1:53\"]\n",
        );
        assert!(needs_restart(&running, None, &same).is_empty());

        let other = server(
            "[server]\ninterface = \"eth1\"\nxdp_mode = \"skb\"\nlisten = [\"192.0.2.1:53\"]\n\
             tcp_idle_timeout = \"5s\"\n",
        );
        let changes = needs_restart(&running, None, &other);
        assert_eq!(changes.len(), 4, "{changes:?}");
        assert!(changes[3].contains("tcp_"));
        assert!(changes[0].contains("interface") && changes[0].contains("eth1"));
        assert!(changes[1].contains("xdp_mode"));
        assert!(changes[2].contains("listen"));

        // The command line's --xdp-mode wins over the file, before and after.
        let mut skb = running.clone();
        skb.xdp_mode = XdpAttachMode::Skb;
        let off_in_file = server(
            "[server]\ninterface = \"eth0\"\nxdp_mode = \"off\"\n\
             listen = [\"192.0.2.1:53\", \"[2001:db8::1]:53\"]\n",
        );
        assert!(needs_restart(&skb, Some(XdpAttachMode::Skb), &off_in_file).is_empty());
    }
}
