//! The `ferry` command line: `ferry demo`, `ferry node --config node.toml`, `ferry deploy`, and client
//! subcommands that drive a running node through its JSON-RPC API. Bad arguments and bad config files get a clear
//! message and a non-zero exit, never a panic.

pub mod config;
pub mod demo;
mod node_cmd;

use std::process::ExitCode;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::rpc::FerryApiClient;
use crate::runtime::{GameMove, OpenVirtual};
use crate::{Error, Result};
use ferry_virtual::protocol::AppKind;

/// Ferry: virtual state channels over funded ledger channels.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs Alice, an intermediary and Bob over loopback QUIC on the embedded chain: funds two ledger channels,
    /// opens a virtual channel, streams payments, plays a game, settles and closes, then reports.
    Demo(DemoArgs),
    /// Runs a node (the daemon) from a TOML config file.
    Node {
        /// The config file (see the README's "ferry node").
        #[arg(long)]
        config: std::path::PathBuf,
    },
    /// Deploys the Adjudicator and the bundled apps on a JSON-RPC chain and prints their addresses for node.toml.
    Deploy {
        /// The chain's JSON-RPC URL.
        #[arg(long)]
        chain: String,
        /// The chain id it must report.
        #[arg(long, default_value_t = 31_337)]
        chain_id: u64,
        /// A file holding the deploying account's private key (hex).
        #[arg(long)]
        key_file: std::path::PathBuf,
    },
    /// Ledger channels of a running node.
    Ledger {
        /// Where the node's API is.
        #[command(flatten)]
        api: ApiArgs,
        /// What to do.
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Virtual channels of a running node.
    Virtual {
        /// Where the node's API is.
        #[command(flatten)]
        api: ApiArgs,
        /// What to do.
        #[command(subcommand)]
        command: VirtualCommand,
    },
    /// Tells a running node where a peer listens.
    Peer {
        /// Where the node's API is.
        #[command(flatten)]
        api: ApiArgs,
        /// The peer's channel address.
        address: Address,
        /// Its QUIC address, `host:port`.
        at: String,
    },
    /// A running node's channels and counters, as JSON.
    Status {
        /// Where the node's API is.
        #[command(flatten)]
        api: ApiArgs,
    },
}

/// `ferry demo` options.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Payments Alice streams to Bob.
    #[arg(long, default_value_t = 1_000)]
    pub payments: u64,
    /// Rounds of rock-paper-scissors.
    #[arg(long, default_value_t = 3)]
    pub rounds: u64,
    /// Print the report as JSON (no progress bars).
    #[arg(long)]
    pub json: bool,
}

/// Where a node's API is.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The node's API URL.
    #[arg(long, default_value = "http://127.0.0.1:7100", global = true)]
    pub api: String,
    /// The API's bearer token (or set FERRY_TOKEN).
    #[arg(long, env = "FERRY_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

/// `ferry ledger …`.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Opens a ledger channel with a peer (who must accept).
    Open {
        /// The peer's channel address.
        #[arg(long)]
        peer: Address,
        /// What this node deposits (wei, or with a unit: `1.5eth`, `20gwei`).
        #[arg(long, value_parser = parse_amount)]
        deposit: U256,
        /// What the peer deposits.
        #[arg(long, value_parser = parse_amount, default_value = "0")]
        peer_deposit: U256,
        /// The asset (the zero address is ETH).
        #[arg(long, default_value_t = Address::ZERO)]
        asset: Address,
        /// The challenge duration, in seconds.
        #[arg(long, default_value_t = 3_600)]
        challenge_duration: u64,
    },
    /// Closes a ledger channel cooperatively.
    Close {
        /// The channel id.
        id: B256,
    },
    /// Challenges a ledger channel on-chain.
    Challenge {
        /// The channel id.
        id: B256,
    },
}

/// The app of a virtual channel, on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum AppArg {
    /// Payments by vouchers.
    Payment,
    /// Rock-paper-scissors.
    Game,
}

/// `ferry virtual …`.
#[derive(Debug, Subcommand)]
pub enum VirtualCommand {
    /// Opens a virtual channel from this node through intermediaries.
    Open {
        /// The path, comma-separated: this node, the intermediaries, the other endpoint.
        #[arg(long, value_delimiter = ',', required = true)]
        path: Vec<Address>,
        /// The ledger channel of each hop, comma-separated, in path order.
        #[arg(long, value_delimiter = ',', required = true)]
        hops: Vec<B256>,
        /// What this node puts in.
        #[arg(long, value_parser = parse_amount)]
        deposit: U256,
        /// What the other endpoint puts in.
        #[arg(long, value_parser = parse_amount, default_value = "0")]
        peer_deposit: U256,
        /// The asset (the zero address is ETH).
        #[arg(long, default_value_t = Address::ZERO)]
        asset: Address,
        /// The app.
        #[arg(long, value_enum, default_value = "payment")]
        app: AppArg,
        /// Routing fees, one per path member, comma-separated (0 for the endpoints); default none.
        #[arg(long, value_delimiter = ',', value_parser = parse_amount)]
        fees: Vec<U256>,
        /// The challenge duration, in seconds.
        #[arg(long, default_value_t = 600)]
        challenge_duration: u64,
    },
    /// Pays the other endpoint.
    Pay {
        /// The virtual channel id.
        id: B256,
        /// The amount (wei, or with a unit).
        #[arg(value_parser = parse_amount)]
        amount: U256,
        /// The asset (the zero address is ETH).
        #[arg(long, default_value_t = Address::ZERO)]
        asset: Address,
    },
    /// A rock-paper-scissors move: `commit <stake> <hand>`, `play <hand>` or `reveal` (hands: rock, paper,
    /// scissors).
    Move {
        /// The virtual channel id.
        id: B256,
        /// The move and its arguments.
        #[arg(num_args = 1..=3, required = true)]
        words: Vec<String>,
    },
    /// Settles the virtual channel off-chain.
    Settle {
        /// The virtual channel id.
        id: B256,
    },
    /// Challenges the virtual channel on-chain.
    Challenge {
        /// The virtual channel id.
        id: B256,
    },
}

/// Parses an amount: wei (`1000`), or a decimal with a unit (`1.5eth`, `20gwei`, `7wei`).
pub fn parse_amount(s: &str) -> std::result::Result<U256, String> {
    let t = s.trim().to_ascii_lowercase();
    let (number, decimals) = if let Some(n) = t.strip_suffix("eth") {
        (n, 18)
    } else if let Some(n) = t.strip_suffix("gwei") {
        (n, 9)
    } else if let Some(n) = t.strip_suffix("wei") {
        (n, 0)
    } else {
        (t.as_str(), 0)
    };
    let number = number.trim();
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits_ok = |d: &str| d.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() && frac.is_empty() || !digits_ok(whole) || !digits_ok(frac) {
        return Err(format!(
            "`{s}` is not an amount (wei, or a number with eth/gwei/wei)"
        ));
    }
    if frac.len() > decimals {
        return Err(format!("`{s}` has more decimals than the unit allows"));
    }
    let digits = format!("{whole}{frac:0<decimals$}");
    let digits = if digits.is_empty() {
        "0".into()
    } else {
        digits
    };
    U256::from_str_radix(&digits, 10).map_err(|_| format!("`{s}` is too large"))
}

fn parse_hand(s: &str) -> Result<u8> {
    match s.to_ascii_lowercase().as_str() {
        "rock" | "1" => Ok(1),
        "paper" | "2" => Ok(2),
        "scissors" | "3" => Ok(3),
        _ => Err(Error::Config(format!(
            "`{s}` is not a hand (rock, paper, scissors)"
        ))),
    }
}

fn parse_move(words: &[String]) -> Result<GameMove> {
    let usage =
        || Error::Config("a move is `commit <stake> <hand>`, `play <hand>` or `reveal`".into());
    match words {
        [w, stake, hand] if w == "commit" => Ok(GameMove::Commit {
            stake: parse_amount(stake).map_err(Error::Config)?,
            hand: parse_hand(hand)?,
        }),
        [w, hand] if w == "play" => Ok(GameMove::Play {
            hand: parse_hand(hand)?,
        }),
        [w] if w == "reveal" => Ok(GameMove::Reveal),
        _ => Err(usage()),
    }
}

fn client(api: &ApiArgs) -> Result<jsonrpsee::http_client::HttpClient> {
    let token = api.token.as_deref().ok_or_else(|| {
        Error::Config("the API token is missing: pass --token or set FERRY_TOKEN".into())
    })?;
    crate::rpc::http_client(&api.api, token)
}

fn api_err(e: jsonrpsee::core::ClientError) -> Error {
    match e {
        jsonrpsee::core::ClientError::Call(obj) => Error::Config(obj.message().to_string()),
        other => Error::Network(other.to_string()),
    }
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let s = serde_json::to_string_pretty(value).map_err(|e| Error::Config(e.to_string()))?;
    println!("{s}");
    Ok(())
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => {
            let report = demo::run(demo::DemoOptions {
                payments: args.payments,
                rounds: args.rounds,
                progress: !args.json,
            })
            .await?;
            if args.json {
                print_json(&report)?;
            } else {
                println!("{}", report.render());
            }
            Ok(())
        }
        Command::Node { config } => node_cmd::run(&config).await,
        Command::Deploy {
            chain,
            chain_id,
            key_file,
        } => node_cmd::deploy(&chain, chain_id, &key_file).await,
        Command::Status { api } => print_json(&client(&api)?.status().await.map_err(api_err)?),
        Command::Peer { api, address, at } => {
            client(&api)?.add_peer(address, at).await.map_err(api_err)
        }
        Command::Ledger { api, command } => {
            let c = client(&api)?;
            match command {
                LedgerCommand::Open {
                    peer,
                    deposit,
                    peer_deposit,
                    asset,
                    challenge_duration,
                } => {
                    let id = c
                        .open_ledger(
                            peer,
                            vec![(asset, [deposit, peer_deposit])],
                            challenge_duration,
                        )
                        .await
                        .map_err(api_err)?;
                    println!("{id}");
                    Ok(())
                }
                LedgerCommand::Close { id } => c.close_ledger(id).await.map_err(api_err),
                LedgerCommand::Challenge { id } => c.challenge_ledger(id).await.map_err(api_err),
            }
        }
        Command::Virtual { api, command } => {
            let c = client(&api)?;
            match command {
                VirtualCommand::Open {
                    path,
                    hops,
                    deposit,
                    peer_deposit,
                    asset,
                    app,
                    fees,
                    challenge_duration,
                } => {
                    let id = c
                        .open_virtual(OpenVirtual {
                            path,
                            hops,
                            app: match app {
                                AppArg::Payment => AppKind::Payment,
                                AppArg::Game => AppKind::Game,
                            },
                            balances: vec![(asset, [deposit, peer_deposit])],
                            fees,
                            challenge_duration,
                        })
                        .await
                        .map_err(api_err)?;
                    println!("{id}");
                    Ok(())
                }
                VirtualCommand::Pay { id, amount, asset } => {
                    c.pay(id, asset, amount).await.map_err(api_err)
                }
                VirtualCommand::Move { id, words } => {
                    c.game_move(id, parse_move(&words)?).await.map_err(api_err)
                }
                VirtualCommand::Settle { id } => c.settle(id).await.map_err(api_err),
                VirtualCommand::Challenge { id } => c.challenge_virtual(id).await.map_err(api_err),
            }
        }
    }
}

/// The `ferry` binary: parses the arguments (clap prints usage errors and exits 2), runs, and turns any error
/// into a message on stderr and exit code 1.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Background tasks (transport, API) must not keep the process alive once the command is done.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn amounts_parse_with_units_and_reject_garbage() {
        assert_eq!(parse_amount("1000").unwrap(), U256::from(1000));
        assert_eq!(
            parse_amount("1.5eth").unwrap(),
            U256::from(1_500_000_000_000_000_000u128)
        );
        assert_eq!(
            parse_amount("20gwei").unwrap(),
            U256::from(20_000_000_000u64)
        );
        assert_eq!(parse_amount("7wei").unwrap(), U256::from(7));
        for bad in [
            "",
            "eth",
            "1.2.3",
            "-1",
            "1.5",
            "0x10",
            "1e18",
            "1.0000000001gwei",
        ] {
            assert!(parse_amount(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn moves_parse_and_reject_garbage() {
        let w = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(
            parse_move(&w("commit 10 rock")).unwrap(),
            GameMove::Commit {
                stake: U256::from(10),
                hand: 1
            }
        );
        assert_eq!(
            parse_move(&w("play scissors")).unwrap(),
            GameMove::Play { hand: 3 }
        );
        assert_eq!(parse_move(&w("reveal")).unwrap(), GameMove::Reveal);
        for bad in ["commit 10 lizard", "play", "reveal now", "jump"] {
            assert!(parse_move(&w(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_arguments_are_usage_errors() {
        for args in [
            vec![
                "ferry",
                "ledger",
                "open",
                "--peer",
                "0x12",
                "--deposit",
                "1",
            ],
            vec!["ferry", "virtual", "pay", "0x00", "1"],
            vec!["ferry", "demo", "--payments", "many"],
            vec!["ferry", "frobnicate"],
        ] {
            assert!(Cli::try_parse_from(&args).is_err(), "{args:?}");
        }
        assert!(Cli::try_parse_from(["ferry", "demo", "--payments", "5"]).is_ok());
    }
}
