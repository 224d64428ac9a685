//! `dns-xdp run`: loads the config and zones, fills and attaches the fast path, and serves the
//! fallback until SIGINT or SIGTERM.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use anyhow::{Context, Result};
use tokio::signal::unix::{signal, SignalKind};

use crate::{
    answers::AnswerSet,
    config::Config,
    dataplane::{Dataplane, XdpAttachMode},
    local_addrs::served_addresses,
    response::Responder,
    server::Listeners,
    zone::Zone,
};

pub struct RunOptions {
    pub config: PathBuf,
    /// Overrides `[server] xdp_mode`.
    pub xdp_mode: Option<XdpAttachMode>,
    pub pin_dir: PathBuf,
}

pub async fn run(options: RunOptions) -> Result<()> {
    let config = Config::load(&options.config)?;
    let xdp_mode = options.xdp_mode.unwrap_or(config.server.xdp_mode);
    let zones = load_zones(&config, &options.config)?;

    let (answers, skipped) = AnswerSet::from_zones(&zones);
    for skip in &skipped {
        log::info!("{skip}");
    }

    // Bind before touching XDP: a busy port must not leave a program attached.
    let listeners = Listeners::bind(&config.server.listen).await?;
    let responder = Arc::new(Responder::new(zones, config.server.edns_payload));

    let dataplane = match xdp_mode {
        XdpAttachMode::Off => None,
        mode => {
            let interface = config
                .server
                .interface
                .as_deref()
                .expect("validated: interface is set unless xdp_mode is off");
            Some(start_dataplane(
                &answers,
                &config,
                interface,
                mode,
                &options.pin_dir,
            )?)
        }
    };

    let listening: Vec<String> = listeners
        .local_addrs()
        .iter()
        .map(|a| a.to_string())
        .collect();
    println!(
        "dns-xdp: serving {} zone(s), {} fast-path answers, fallback on {}; {}",
        config.zones.len(),
        answers.len(),
        listening.join(", "),
        match &dataplane {
            Some((_, how)) => how.clone(),
            None => "XDP off".to_string(),
        }
    );

    let mut sigterm = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    tokio::select! {
        _ = listeners.serve(responder) => {}
        _ = tokio::signal::ctrl_c() => log::info!("SIGINT: shutting down"),
        _ = sigterm.recv() => log::info!("SIGTERM: shutting down"),
    }
    // Dropping the dataplane detaches the program and removes the pins.
    drop(dataplane);
    println!("dns-xdp: stopped");
    Ok(())
}

fn load_zones(config: &Config, config_path: &Path) -> Result<Vec<Zone>> {
    config
        .zone_sources(config_path)
        .into_iter()
        .map(|source| {
            Zone::load(&source.origin, &source.file)
                .with_context(|| format!("loading zone {}", source.origin))
        })
        .collect()
}

fn start_dataplane(
    answers: &AnswerSet,
    config: &Config,
    interface: &str,
    mode: XdpAttachMode,
    pin_dir: &Path,
) -> Result<(Dataplane, String)> {
    let capacity = u32::try_from(answers.len()).unwrap_or(u32::MAX / 2);
    let mut dataplane = Dataplane::load(capacity, config.server.edns_payload, Some(pin_dir))?;
    let served = served_addresses(&config.server.listen)
        .context("listing this host's addresses for the wildcard listen addresses")?;
    log::info!(
        "fast path answers queries to {}",
        served
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    dataplane.serve_addresses(served)?;
    // Answers go in before the program is attached, so the first query already hits.
    let generation = dataplane.publish(answers)?;
    let attached = dataplane.attach(interface, mode)?;
    let how = format!(
        "XDP {attached:?} on {interface} (generation {generation}, maps pinned in {})",
        pin_dir.display()
    );
    Ok((dataplane, how))
}
