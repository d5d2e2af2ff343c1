//! `ferry node` (the daemon) and `ferry deploy`.

use std::path::Path;
use std::sync::Arc;

use alloy::primitives::U256;
use ferry_adjudicator::{Chain, EmbeddedChain, RpcChain, RpcConfig};
use ferry_ledger::contracts::Artifact;

use super::config::{NodeSettings, load_or_create_key, parse_key};
use crate::rpc::RpcServer;
use crate::runtime::{Node, NodeConfig, NodeSetup};
use crate::{Error, Result};

/// Runs the node described by the config file until SIGINT or SIGTERM, then shuts it down cleanly (its store
/// keeps every channel; the next start resumes them).
pub async fn run(path: &Path) -> Result<()> {
    let settings = NodeSettings::load(path)?;
    let file = &settings.file;
    let signer = load_or_create_key(&file.key_file)?;
    init_logs();
    let chain: Arc<dyn Chain> = if file.chain == "embedded" {
        let chain = EmbeddedChain::new()?;
        // Alone on its own chain, the node gets test ether to deposit.
        chain.fund(
            signer.address(),
            U256::from(1_000u64) * U256::from(10u64).pow(U256::from(18)),
        );
        Arc::new(chain)
    } else {
        let mut rpc = RpcConfig::new(
            file.chain.clone(),
            file.chain_id,
            vec![signer.secret_bytes()],
        );
        rpc.adjudicator = file.adjudicator;
        rpc.payment_app = file.payment_app;
        rpc.rock_paper_scissors = file.rock_paper_scissors;
        if let Some(c) = file.confirmations {
            rpc.confirmations = c;
        }
        if let Some(secs) = file.replace_after_secs {
            rpc.replace_after = std::time::Duration::from_secs(secs);
        }
        Arc::new(RpcChain::connect(rpc).await?)
    };
    let mut config = NodeConfig::new(signer);
    config.ledger = settings.ledger();
    config.policy = settings.policy();
    config.release_retention = std::time::Duration::from_secs(settings.file.release_retention_secs);
    config.max_refusals = settings.file.transport.max_refusals;
    let setup = NodeSetup {
        data_dir: Some(file.data_dir.clone()),
        listen: file.listen,
        peers: file.peers.iter().map(|p| (p.address, p.at)).collect(),
        transport: settings.transport(),
    };
    let (node, transport) = Node::launch(config, setup, chain).await?;
    let book_transport = transport.clone();
    let book: crate::rpc::PeerBook = Arc::new(move |peer, at| book_transport.add_peer(peer, at));
    let api = RpcServer::start(node.clone(), file.api, &settings.token, Some(book)).await?;
    tracing::info!(
        address = %node.address(),
        quic = %transport.local_addr(),
        api = %api.local_addr(),
        "ferry node running"
    );
    // One line on stdout for scripts: address, QUIC address, API address.
    println!(
        "ferry node {} listening on {} (QUIC), API on http://{}",
        node.address(),
        transport.local_addr(),
        api.local_addr()
    );
    wait_for_signal().await;
    tracing::info!("shutting down");
    api.stop().await;
    node.shutdown().await;
    transport.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Deploys the Adjudicator and the bundled apps and prints the lines for node.toml.
pub async fn deploy(url: &str, chain_id: u64, key_file: &Path) -> Result<()> {
    let text = std::fs::read_to_string(key_file)
        .map_err(|e| Error::Config(format!("cannot read key file {}: {e}", key_file.display())))?;
    let signer = parse_key(&text)
        .map_err(|e| Error::Config(format!("key file {}: {e}", key_file.display())))?;
    let chain =
        RpcChain::connect(RpcConfig::new(url, chain_id, vec![signer.secret_bytes()])).await?;
    println!("adjudicator = \"{}\"", chain.adjudicator());
    for (key, artifact) in [
        ("payment_app", Artifact::PaymentApp),
        ("rock_paper_scissors", Artifact::RockPaperScissors),
    ] {
        if let Some(a) = chain.deployed(artifact) {
            println!("{key} = \"{a}\"");
        }
    }
    Ok(())
}
