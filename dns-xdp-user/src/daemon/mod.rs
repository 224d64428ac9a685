//! `dns-xdp run`: loads the config and zones, fills and attaches the fast path, and serves the
//! fallback until SIGINT or SIGTERM. SIGHUP (or `dns-xdp reload`) reloads the config and every
//! zone; a reload that fails in any way changes nothing, so the previous zones stay served.
//! ALIAS targets outside our zones are resolved before serving and kept fresh while serving;
//! an answer that changes is published like a reload.

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use anyhow::{anyhow, bail, Context, Result};
use tokio::{
    signal::unix::{signal, SignalKind},
    sync::mpsc::UnboundedReceiver,
    task::JoinHandle,
};

pub mod pid_file;

use crate::{
    alias::{self, refresh::Refresher, upstream::Upstreams, Alias, Flattened},
    config::{Config, ServerConfig, XdpAttachMode, ZoneSource},
    fallback::{
        query_stats::QueryStats,
        responder::Responder,
        server::{Listeners, SharedResponder},
    },
    fastpath::{
        addresses::served_addresses,
        answers::{AnswerSet, Skipped},
        dataplane::{Attached, Dataplane, DataplaneError, ViewPrefix},
    },
    health::{Checker, HealthChange, HealthState, Target},
    metrics::{self, Metrics, TargetHealth},
    steering::traffic::Traffic,
    zone::{Name, Zone, ZoneError},
};

/// How long the agent waits at start for the first answers of ALIAS targets outside our zones
/// before it serves without them (their aliases answer NODATA until they come).
const FIRST_RESOLUTION_LIMIT: Duration = Duration::from_secs(5);

pub struct RunOptions {
    pub config: PathBuf,
    /// Overrides `[server] xdp_mode`.
    pub xdp_mode: Option<XdpAttachMode>,
    pub pin_dir: PathBuf,
    /// Where to write the agent's pid while it serves, for `dns-xdp reload`.
    pub pid_file: Option<PathBuf>,
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
    // First of all: SIGHUP's default action would kill an agent that is still starting up.
    // One that arrives now is kept and handled as a reload once the agent serves.
    let mut sighup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut sigusr2 = signal(SignalKind::user_defined2()).context("installing SIGUSR2 handler")?;

    let loaded = Loaded::read(&options.config)?;
    // Health first: pools answer from members known to be up, and a taken-over fast path keeps
    // the previous agent's answers until these are known.
    let (checker, mut health_changes) = Checker::new();
    let checker = Arc::new(checker);
    let targets = loaded.traffic.targets();
    if !targets.is_empty() {
        checker.set_targets(targets.iter().cloned());
        let limit = first_round_limit(&targets);
        if !checker.first_round(std::time::Instant::now() + limit).await {
            log::warn!(
                "not every health check reported within {limit:?}; members not checked yet \
                 count as up"
            );
        }
    }
    let mut refresher = Refresher::new(Upstreams::new(loaded.config.server.upstream.clone()));
    refresher.set_targets(
        Upstreams::new(loaded.config.server.upstream.clone()),
        loaded.upstream_targets(),
    );
    if !refresher.is_empty() {
        refresher.resolve_for(FIRST_RESOLUTION_LIMIT).await;
    }
    let Ready {
        config,
        service,
        base,
        published,
        traffic,
    } = loaded.ready(refresher.answers().clone(), |t| checker.state(t));
    let Service {
        responder,
        answers,
        steered_answers,
        skipped,
    } = service;
    let mut server = config.server.clone();
    server.xdp_mode = options.xdp_mode.unwrap_or(config.server.xdp_mode);
    for skip in &skipped {
        log::info!("{skip}");
    }

    // Bind before touching XDP: a busy port must not leave a program attached.
    let listeners = Listeners::bind(&server.listen).await?;
    let metrics_listener = match &config.metrics {
        Some(m) => Some(metrics::bind(m.listen).await?),
        None => None,
    };
    let responder = SharedResponder::new(responder);

    let dataplane = match server.xdp_mode {
        XdpAttachMode::Off => None,
        mode => {
            let interface = server
                .interface
                .as_deref()
                .expect("validated: interface is set unless xdp_mode is off");
            Some(start_dataplane(
                &answers,
                &traffic.view_prefixes(),
                &server,
                interface,
                mode,
                &options.pin_dir,
            )?)
        }
    };
    let query_stats = Arc::new(QueryStats::default());
    let metrics = metrics_listener.map(|listener| {
        let pin_dir = dataplane.as_ref().map(|_| options.pin_dir.clone());
        let metrics = Arc::new(Metrics::new(pin_dir, query_stats.clone()));
        metrics.set_health_source(health_source(checker.clone()));
        tokio::spawn(metrics::serve(listener, metrics.clone()));
        metrics
    });
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
        "dns-xdp: serving {} zone(s) and {} pool(s), {} fast-path answers, fallback on {}; {}",
        config.zones.len(),
        traffic.pools(),
        answers.len(),
        listening.join(", "),
        match &dataplane {
            Some((_, how)) => how.clone(),
            None => "XDP off".to_string(),
        }
    );

    let mut agent = Running {
        config_path: options.config,
        cli_xdp_mode: options.xdp_mode,
        server,
        responder: responder.clone(),
        dataplane: dataplane.map(|(dataplane, _)| dataplane),
        base,
        published,
        metrics,
        traffic,
        checker,
        steered_answers,
        renew_at: answers.renew_at(),
    };
    agent.record_publication();
    let serve = listeners.serve(responder, query_stats);
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
                if let Some(dataplane) = &mut agent.dataplane {
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
            _ = sleep_until(due), if due.is_some() => refresher.start_due(),
            _ = sleep_until(renew_due), if renew_due.is_some() => agent.renew_signatures(),
            lookup = refresher.next_finished() => {
                refresher.finish(lookup);
                // Also after a lookup that changed nothing: a publish that failed is retried.
                agent.republish_if_stale(refresher.answers());
            }
        }
    }
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

/// Everything read from the config file and the zone files.
struct Loaded {
    config: Config,
    /// As the zone files have them.
    zones: Vec<Zone>,
    aliases: Vec<Alias>,
    traffic: Traffic,
}

/// The zones and aliases a serving agent keeps to publish again when an upstream answer of an
/// ALIAS target changes or the fast path's signatures are due for renewal: only when there are
/// such aliases or signed zones.
struct Base {
    zones: Vec<Zone>,
    aliases: Vec<Alias>,
}

/// A [`Loaded`] with its aliases flattened into the zones and its pools' answers computed,
/// ready to put in service.
struct Ready {
    config: Config,
    service: Service,
    base: Option<Base>,
    /// The upstream answers the zones hold, by target.
    published: HashMap<Name, Flattened>,
    traffic: Traffic,
}

/// What one publication puts in service, rendered once for both paths.
struct Service {
    /// The fallback's: the zones (aliases flattened, pools' placeholders in), the pools'
    /// answers.
    responder: Responder,
    /// The fast path's: the zones' and the pools' answers.
    answers: AnswerSet,
    /// The pools' entries of `answers` alone, which health changes update in place.
    steered_answers: AnswerSet,
    /// What the fast path leaves to the fallback.
    skipped: Vec<Skipped>,
}

impl Service {
    /// Renders `zones` with `traffic`'s pools as last computed. The zones' fast-path answers
    /// are rendered before the pools' names get their placeholders, which they must not hold.
    fn build(mut zones: Vec<Zone>, traffic: &Traffic, edns_payload: u16) -> Self {
        let (mut answers, mut skipped) = AnswerSet::from_zones(&zones);
        traffic.insert_placeholders(&mut zones);
        let responder = Responder::with_answers(zones, &answers, edns_payload)
            .with_steered(Arc::new(traffic.steered()));
        skipped.extend(traffic.fast_path_into(&mut answers));
        let steered_answers = answers.steered_only();
        Self {
            responder,
            answers,
            steered_answers,
            skipped,
        }
    }
}

impl Loaded {
    fn read(config_path: &Path) -> Result<Self> {
        let config = Config::load(config_path)?;
        let zones = load_zones(&config, config_path)?;
        Self::with_zones(config, zones, config_path)
    }

    /// Checks the rest of `config` against its loaded `zones` as a start or a reload does:
    /// the aliases resolve, the geo database opens, no pool contradicts the zones' data.
    fn with_zones(config: Config, mut zones: Vec<Zone>, config_path: &Path) -> Result<Self> {
        crate::catalog::signers::prepare(&config, config_path, &mut zones)?;
        let aliases = alias::plan(&config.alias_sources(), &zones)
            .map_err(|e| anyhow!("config file {}: {e}", config_path.display()))?;
        let mut traffic = Traffic::load(config.traffic(config_path)?)
            .map_err(|e| anyhow!("config file {}: {e}", config_path.display()))?;
        traffic
            .check_zones(&zones)
            .map_err(|e| anyhow!("config file {}: {e}", config_path.display()))?;
        traffic.sign_with(&zones);
        Ok(Self {
            config,
            zones,
            aliases,
            traffic,
        })
    }

    /// The targets of aliases resolved through the upstreams.
    fn upstream_targets(&self) -> Vec<Name> {
        upstream_targets(&self.aliases)
    }

    /// Flattens the aliases into the zones with `upstream`, the last good answers by target,
    /// computes the pools' answers with `health`, and renders both paths' answers.
    fn ready(
        mut self,
        mut upstream: HashMap<Name, Flattened>,
        health: impl Fn(&Target) -> Option<HealthState>,
    ) -> Ready {
        let targets = self.upstream_targets();
        upstream.retain(|target, _| targets.contains(target));
        // Signed zones are rendered again whenever their signatures are due for renewal.
        let signed = self.zones.iter().any(|zone| zone.signer().is_some());
        let base = (!targets.is_empty() || signed).then(|| Base {
            zones: self.zones.clone(),
            aliases: self.aliases.clone(),
        });
        let served = alias::flatten(self.zones, &self.aliases, &upstream);
        self.traffic.recompute(health);
        let service = Service::build(served, &self.traffic, self.config.server.edns_payload);
        Ready {
            config: self.config,
            service,
            base,
            published: upstream,
            traffic: self.traffic,
        }
    }
}

fn upstream_targets(aliases: &[Alias]) -> Vec<Name> {
    let mut targets: Vec<Name> = aliases
        .iter()
        .filter(|a| matches!(a.source, alias::Source::Upstream))
        .map(|a| a.target.clone())
        .collect();
    targets.sort();
    targets.dedup();
    targets
}

async fn sleep_until(due: Option<std::time::Instant>) {
    if let Some(due) = due {
        tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
    }
}

/// Loads every zone, reporting every zone that fails rather than only the first.
fn load_zones(config: &Config, config_path: &Path) -> Result<Vec<Zone>> {
    let mut zones = Vec::new();
    let mut errors = Vec::new();
    for (source, loaded) in read_zones(config, config_path) {
        match loaded {
            Ok(zone) => zones.push(zone),
            Err(e) => errors.push((source, e)),
        }
    }
    zone_errors(&errors)?;
    Ok(zones)
}

/// Reads each zone of `config`, in config order, with its own result.
pub(crate) fn read_zones(
    config: &Config,
    config_path: &Path,
) -> Vec<(ZoneSource, Result<Zone, ZoneError>)> {
    config
        .zone_sources(config_path)
        .into_iter()
        .map(|source| {
            let loaded = Zone::load(&source.origin, &source.file);
            (source, loaded)
        })
        .collect()
}

/// One error naming every zone that failed to load; Ok if none did.
pub(crate) fn zone_errors(failed: &[(ZoneSource, ZoneError)]) -> Result<()> {
    let all: Vec<String> = failed
        .iter()
        .map(|(source, e)| format!("loading zone {}: {e}", source.origin))
        .collect();
    match all.as_slice() {
        [] => Ok(()),
        [one] => bail!("{one}"),
        all => bail!(
            "{} zones failed to load:\n  {}",
            all.len(),
            all.join("\n  ")
        ),
    }
}

/// What a start would refuse in `config` beyond the config file and the zone files themselves,
/// as the agent checks it: aliases, the geo database, pools against the zones' data.
pub(crate) fn check_with_zones(config: Config, zones: Vec<Zone>, config_path: &Path) -> Result<()> {
    Loaded::with_zones(config, zones, config_path).map(drop)
}

/// A serving agent's state, as far as a reload changes it.
struct Running {
    config_path: PathBuf,
    cli_xdp_mode: Option<XdpAttachMode>,
    /// The settings in effect (`xdp_mode` after the command-line override). Only
    /// `edns_payload` can change without a restart.
    server: ServerConfig,
    responder: SharedResponder,
    dataplane: Option<Dataplane>,
    /// What to flatten again when an upstream answer changes; None without such aliases.
    base: Option<Base>,
    /// The upstream answers of ALIAS targets being served, by target.
    published: HashMap<Name, Flattened>,
    metrics: Option<Arc<Metrics>>,
    traffic: Traffic,
    checker: Arc<Checker>,
    /// The pools' entries live in the fast path.
    steered_answers: AnswerSet,
    /// Unix seconds when the first of the fast path's signatures is due for renewal.
    renew_at: Option<u64>,
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
            Ok(Loaded::read(&path)?.ready(upstream, |t| checker.state(t)))
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
                self.serving(),
                crate::error::describe(&e)
            ),
        }
    }

    /// Puts `new` in service and resolves its aliases' upstream targets afresh (the last good
    /// answers are kept meanwhile).
    fn apply(&mut self, new: Ready, refresher: &mut Refresher) -> Result<String> {
        for change in needs_restart(&self.server, self.cli_xdp_mode, &new.config.server) {
            log::warn!("reload: {change} needs a restart; the running agent keeps the old value");
        }
        for skip in &new.service.skipped {
            log::info!("{skip}");
        }
        let fast_path = self.put_in_service(
            new.service,
            &new.traffic.view_prefixes(),
            new.config.server.edns_payload,
        )?;
        self.traffic = new.traffic;
        self.checker.set_targets(self.traffic.targets());
        let targets = new
            .base
            .as_ref()
            .map(|base| upstream_targets(&base.aliases))
            .unwrap_or_default();
        refresher.set_targets(Upstreams::new(new.config.server.upstream.clone()), targets);
        self.base = new.base;
        self.published = new.published;
        Ok(format!(
            "{} zone(s) from {}: {fast_path}",
            new.config.zones.len(),
            self.config_path.display()
        ))
    }

    /// Flattens the aliases again if an upstream answer changed since the zones being served
    /// were made, and publishes them. A failure is logged and tried again after the next
    /// lookup; the previous answers stay in service.
    fn republish_if_stale(&mut self, upstream: &HashMap<Name, Flattened>) {
        let Some(base) = &self.base else {
            return;
        };
        let mut current = upstream.clone();
        let targets = upstream_targets(&base.aliases);
        current.retain(|target, _| targets.contains(target));
        if current == self.published {
            return;
        }
        let service = self.rebuild(base, &current);
        let prefixes = self.traffic.view_prefixes();
        match self.put_in_service(service, &prefixes, self.server.edns_payload) {
            Ok(fast_path) => {
                self.published = current;
                println!("dns-xdp: ALIAS answers changed: {fast_path}");
            }
            Err(e) => log::error!(
                "publishing changed ALIAS answers failed; still serving the previous ones \
                 ({}): {}",
                self.serving(),
                crate::error::describe(&e)
            ),
        }
    }

    /// Renders `base` again, its aliases flattened with `upstream`.
    fn rebuild(&self, base: &Base, upstream: &HashMap<Name, Flattened>) -> Service {
        // Copying and rendering large zones takes a while: keep this worker's other tasks
        // moving (the agent runs on the multi-threaded runtime).
        tokio::task::block_in_place(|| {
            let served = alias::flatten(base.zones.clone(), &base.aliases, upstream);
            Service::build(served, &self.traffic, self.server.edns_payload)
        })
    }

    /// When to renew the fast path's signatures: at their renewal time, and never sooner than
    /// a second from now (a clock set back must not make the agent spin).
    fn renew_due(&self) -> Option<std::time::Instant> {
        let at = self.renew_at?;
        let wait = at.saturating_sub(crate::dnssec::unix_now()).max(1);
        Some(std::time::Instant::now() + Duration::from_secs(wait))
    }

    /// Publishes the served zones and pools afresh once the fast path's signatures are due for
    /// renewal: rendering them signs them anew (the signer's cache no longer hands out the old
    /// signatures), as the fallback now does. A whole new generation rather than changes in
    /// place: the signatures of a zone were all made together, so nearly every entry changes,
    /// and a generation is written aside and flipped at once, where in-place changes would pass
    /// every query up for as long as the batch takes (see `dns_xdp_common::publish`). The old
    /// signatures stay valid for `SigningConfig::refresh` after this (42 h by default), so a
    /// failure is logged and retried at the next renewal time or reload.
    fn renew_signatures(&mut self) {
        let Some(base) = &self.base else {
            self.renew_at = None;
            return;
        };
        let service = self.rebuild(base, &self.published);
        let prefixes = self.traffic.view_prefixes();
        match self.put_in_service(service, &prefixes, self.server.edns_payload) {
            Ok(fast_path) => println!("dns-xdp: signatures renewed: {fast_path}"),
            Err(e) => {
                log::error!(
                    "publishing renewed signatures failed; the fast path keeps the previous ones \
                     ({}), valid for a while yet; retrying in an hour: {}",
                    self.serving(),
                    crate::error::describe(&e)
                );
                self.renew_at = Some(crate::dnssec::unix_now() + 3600);
            }
        }
    }

    /// Puts a service in service: first the fast path (answers and client views in one flip),
    /// then the fallback (one pointer swap). If the fast path refuses
    /// the answers, neither changes. Returns what the fast path now serves, for the log.
    fn put_in_service(
        &mut self,
        service: Service,
        prefixes: &[ViewPrefix],
        edns_payload: u16,
    ) -> Result<String> {
        let answers = &service.answers;
        let fast_path = match &mut self.dataplane {
            None => "XDP off".to_string(),
            Some(dataplane) => {
                dataplane.set_edns_payload(edns_payload);
                match dataplane.publish(answers, prefixes) {
                    Ok(generation) => {
                        format!(
                            "{} fast-path answers published (generation {generation})",
                            answers.len()
                        )
                    }
                    Err(e) => {
                        dataplane.set_edns_payload(self.server.edns_payload);
                        let hint = match e {
                            DataplaneError::Capacity { .. } => {
                                "; the answer map is sized when the agent starts, so restart it \
                                 to serve this many answers"
                            }
                            _ => "",
                        };
                        bail!(
                            "publishing {} answers to the fast path: {e}{hint}",
                            answers.len()
                        );
                    }
                }
            }
        };
        self.responder.replace(service.responder);
        self.steered_answers = service.steered_answers;
        self.renew_at = service.answers.renew_at();
        self.server.edns_payload = edns_payload;
        self.record_publication();
        Ok(fast_path)
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
        let started = std::time::Instant::now();
        let checker = self.checker.clone();
        // Thousands of pools take a few hundred milliseconds: keep this worker's other tasks
        // moving meanwhile (the agent runs on the multi-threaded runtime).
        let republished = tokio::task::block_in_place(|| {
            self.traffic.republish(
                |t| checker.state(t),
                self.dataplane.as_mut(),
                &self.responder,
                &mut self.steered_answers,
            )
        });
        let Some(republished) = republished else {
            return;
        };
        let took = started.elapsed();
        self.record_publication();
        // Pools re-signed now may hold signatures due before the rest.
        self.renew_at = match (self.renew_at, self.steered_answers.renew_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let fast_path = match republished.fast_path {
            Some(Ok(updated)) => format!(
                "{} fast-path entries written, {} deleted",
                updated.written, updated.deleted
            ),
            Some(Err(e)) => {
                log::error!(
                    "updating the pools' answers in the fast path failed part way: {e}; reload \
                     (SIGHUP or `dns-xdp reload`) to publish every answer afresh"
                );
                "fast path not updated".to_string()
            }
            None => "XDP off".to_string(),
        };
        let because: Vec<String> = changes
            .iter()
            .map(|c| format!("{} went {:?} ({})", c.target, c.new, c.reason))
            .collect();
        for line in &republished.lines {
            tracing::info!(change = %line, because = %because.join("; "), "steering: answer changed");
        }
        tracing::info!(
            changes = republished.lines.len(),
            took = ?took,
            fast_path = %fast_path,
            "steering: published"
        );
    }

    /// Tells the metrics endpoint what is now served.
    fn record_publication(&self) {
        if let Some(metrics) = &self.metrics {
            let generation = self.dataplane.as_ref().map_or(0, Dataplane::generation);
            metrics.published(generation, self.responder.current().serials());
        }
    }

    /// What is being served, for the log.
    fn serving(&self) -> String {
        match &self.dataplane {
            Some(dataplane) => format!("fast-path generation {}", dataplane.generation()),
            None => "XDP off".to_string(),
        }
    }
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
    changes
}

fn start_dataplane(
    answers: &AnswerSet,
    views: &[ViewPrefix],
    server: &ServerConfig,
    interface: &str,
    mode: XdpAttachMode,
    pin_dir: &Path,
) -> Result<(Dataplane, String)> {
    let capacity = u32::try_from(answers.len()).unwrap_or(u32::MAX / 2);
    let mut dataplane = Dataplane::load(capacity, server.edns_payload, Some(pin_dir))?;
    let served = served_addresses(&server.listen)
        .context("listing this host's addresses for the wildcard listen addresses")?;
    log::info!(
        "fast path answers queries to {}",
        served
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let subnet_edges = crate::fastpath::addresses::subnet_edges()
        .context("listing the subnets of this host's interfaces")?;
    dataplane.serve_addresses(served, subnet_edges)?;
    let (attached, generation) = match dataplane.inherited_generation() {
        // A dead agent's program is answering from its maps: replace the program first, so the
        // fast path never stops, then its answers with ours (computed after every health
        // check reported, so they are as good as the previous agent's).
        Some(inherited) => {
            let attached = dataplane.attach(interface, mode)?;
            log::info!(
                "took over the fast path on {interface}, which answered from the previous \
                 agent's generation {inherited} until now"
            );
            let generation = dataplane.publish(answers, views)?;
            (attached, generation)
        }
        // Answers go in before the program is attached, so the first query already hits.
        None => {
            let generation = dataplane.publish(answers, views)?;
            (dataplane.attach(interface, mode)?, generation)
        }
    };
    let attached = match attached {
        Attached::Native => "native",
        Attached::Skb => "skb",
        Attached::TookOver => "taken over",
    };
    let how = format!(
        "XDP {attached} on {interface} (generation {generation}, maps pinned in {})",
        pin_dir.display()
    );
    Ok((dataplane, how))
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
    fn restart_needed_for_interface_mode_and_listen_only() {
        let running = server(
            "[server]\ninterface = \"eth0\"\nlisten = [\"192.0.2.1:53\", \"[2001:db8::1]:53\"]\n",
        );
        let same = server(
            "[server]\ninterface = \"eth0\"\nxdp_mode = \"native\"\nedns_payload = 1400\n\
             listen = [\"[2001:db8::1]:53\", \"192.0.2.1:53\"]\n",
        );
        assert!(needs_restart(&running, None, &same).is_empty());

        let other = server(
            "[server]\ninterface = \"eth1\"\nxdp_mode = \"skb\"\nlisten = [\"192.0.2.1:53\"]\n",
        );
        let changes = needs_restart(&running, None, &other);
        assert_eq!(changes.len(), 3, "{changes:?}");
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
