//! The gas report: runs every on-chain path on the embedded chain and sets each figure beside the anchors'.
//!
//! Rows are per operation (deposits, the happy-path close, challenge, checkpoint, withdraw, claim, S17's bonds) and per
//! lifecycle (a ledger channel's happy path, a direct dispute, a ledger-funded dispute and a virtual-funded dispute
//! with a claim, each as one party's exit). Claims are also measured against sub-channel tables of growing size:
//! the proof carries ⌈log2 n⌉ siblings, so the claim's gas grows as O(log n).
//!
//! Measured in the steady state of a live chain: the participants' accounts exist and the adjudicator already holds
//! the token, so no row pays the one-off cost of creating an account (25,000) or a token balance (20,000).

use std::sync::Arc;

use alloy::primitives::aliases::U96;
use alloy::primitives::{Address, B256, Bytes, U256, keccak256};
use ferry_adjudicator::{AdjudicatorClient, Chain, EmbeddedChain};
use ferry_contracts::{
    Artifact, AssetAmount, Certificate, ChannelParams, State, SubAlloc, channel_id,
};
use ferry_ledger::channel::{funded_asset, ledger_params, sign_all, state, virtual_params};
use ferry_ledger::support::ChainContext;
use ferry_ledger::{Signer, SubTree};

use crate::Result;
use crate::anchors::Anchors;

/// One measured figure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GasRow {
    /// Section of the table.
    pub section: &'static str,
    /// What was measured.
    pub operation: String,
    /// Ferry's gas (receipt gas: intrinsic, calldata and execution, refunds deducted).
    pub ferry: u64,
    /// The anchor figure to compare with (a key of `anchors/gas.json`), if one is comparable.
    pub anchor: Option<&'static str>,
}

/// One claim measured against a sub-channel table of `sub_channels` leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimScaling {
    /// Leaves in the ledger's sub-channel table.
    pub sub_channels: usize,
    /// Siblings in the proof.
    pub siblings: usize,
    /// Gas of the claim.
    pub gas: u64,
}

/// Everything the report measured.
#[derive(Debug, Clone, Default)]
pub struct GasReport {
    /// Per operation and per lifecycle.
    pub rows: Vec<GasRow>,
    /// The claim against tables of growing size.
    pub claims: Vec<ClaimScaling>,
}

fn eth(x: u64) -> U256 {
    U256::from(x) * U256::from(10u64).pow(U256::from(18u8))
}

fn key(name: &str) -> Result<Signer> {
    Ok(Signer::from_bytes(&keccak256(name.as_bytes()))?)
}

struct Bench {
    chain: Arc<EmbeddedChain>,
    client: AdjudicatorClient,
    ctx: ChainContext,
    alice: Signer,
    hub: Signer,
    bob: Signer,
    tx: Vec<Address>,
    rows: Vec<GasRow>,
}

impl Bench {
    fn row(
        &mut self,
        section: &'static str,
        operation: &str,
        gas: u64,
        anchor: Option<&'static str>,
    ) -> u64 {
        self.rows.push(GasRow {
            section,
            operation: operation.to_owned(),
            ferry: gas,
            anchor,
        });
        gas
    }

    fn ledger(&self, a: &Signer, b: &Signer) -> ChannelParams {
        ledger_params(&self.ctx, a.address(), b.address(), 3600)
    }

    fn sign(&self, s: &State, signers: &[&Signer]) -> Vec<ferry_contracts::Signature> {
        sign_all(&self.ctx, s, signers)
    }

    async fn fund(&self, p: &ChannelParams, a: U256, b: U256) -> Result<(u64, u64)> {
        let id = channel_id(p);
        let first = self
            .client
            .deposit(self.tx[0], Address::ZERO, id, 0, U256::ZERO, a)
            .await?;
        let second = self
            .client
            .deposit(self.tx[1], Address::ZERO, id, 1, U256::ZERO, b)
            .await?;
        Ok((first.gas_used, second.gas_used))
    }

    /// A state of a ledger both sides funded with 5 ETH, holding `tree` in its table; `b` excludes the locked amount.
    fn ledger_state_with(
        &self,
        p: &ChannelParams,
        version: u64,
        b: [U256; 2],
        tree: &SubTree,
        locked: U256,
        fin: bool,
    ) -> State {
        let mut a = funded_asset(Address::ZERO, vec![eth(5), eth(5)]);
        a.balances = b.to_vec();
        a.locked = locked;
        let mut s = state(p, version, vec![a], Bytes::new(), fin);
        s.outcome.subRoot = tree.root();
        s
    }

    fn virtual_state(
        &self,
        v: &ChannelParams,
        version: u64,
        a_funds: U256,
        b_funds: U256,
        paid: U256,
        fin: bool,
    ) -> State {
        let n = v.participants.len();
        let mut funded = vec![U256::ZERO; n];
        funded[0] = a_funds;
        funded[n - 1] = b_funds;
        let mut asset = funded_asset(Address::ZERO, funded);
        asset.balances[0] = a_funds - paid;
        asset.balances[n - 1] = b_funds + paid;
        state(v, version, vec![asset], Bytes::new(), fin)
    }

    fn certificate(
        &self,
        v: &ChannelParams,
        a_funds: U256,
        b_funds: U256,
        path: &[&Signer],
    ) -> Certificate {
        let post = self.virtual_state(v, 1, a_funds, b_funds, U256::ZERO, false);
        Certificate {
            sigs: self.sign(&post, path),
            state: post,
        }
    }
}

/// Runs every path and returns the figures. `claim_sizes` are the sub-channel table sizes to claim against.
pub async fn measure(claim_sizes: &[usize]) -> Result<GasReport> {
    let chain = Arc::new(EmbeddedChain::new()?);
    let client = AdjudicatorClient::new(chain.clone());
    let ctx = ChainContext {
        chain_id: chain.chain_id(),
        adjudicator: chain.adjudicator(),
    };
    let mut b = Bench {
        tx: chain.accounts(),
        chain,
        client,
        ctx,
        alice: key("ferry gas report alice")?,
        hub: key("ferry gas report hub")?,
        bob: key("ferry gas report bob")?,
        rows: vec![],
    };

    // Steady state, as on a live chain: the participants' accounts exist (they hold some ETH), so payouts do not
    // pay the 25,000 gas of creating an account.
    for who in [b.alice.address(), b.hub.address(), b.bob.address()] {
        b.chain.fund(who, U256::from(1u8));
    }

    // Deployment.
    let code = Artifact::Adjudicator
        .bytecode()
        .map_err(ferry_adjudicator::Error::from)?;
    let deploy = b.chain.deploy(b.tx[0], code).await?;
    b.row(
        "deployment",
        "deploy Adjudicator (singleton)",
        deploy.gas_used,
        Some("deploy_adjudicator"),
    );

    // Deposits and the happy path, ETH.
    let (alice, hub) = (b.alice.clone(), b.hub.clone());
    let l = b.ledger(&alice, &hub);
    let (first, second) = b.fund(&l, eth(3), eth(5)).await?;
    b.row(
        "operations",
        "ETH deposit, first participant",
        first,
        Some("eth_deposit_first"),
    );
    b.row(
        "operations",
        "ETH deposit, second participant",
        second,
        Some("eth_deposit_second"),
    );
    let mut fin = state(
        &l,
        12,
        vec![funded_asset(Address::ZERO, vec![eth(3), eth(5)])],
        Bytes::new(),
        true,
    );
    fin.outcome.assets[0].balances = vec![eth(2), eth(6)];
    let close = b
        .client
        .conclude_and_withdraw(b.tx[2], &l, &fin, &b.sign(&fin, &[&alice, &hub]))
        .await?
        .gas_used;
    b.row(
        "operations",
        "concludeAndWithdraw (happy close), ETH",
        close,
        Some("happy_exit_eth_both_paid"),
    );
    b.row(
        "lifecycles",
        "ledger channel, whole life (2 deposits + close), ETH",
        first + second + close,
        None,
    );

    // ERC-20.
    let token = b.client.deploy(b.tx[0], Artifact::TestToken).await?;
    for i in 0..2 {
        b.client.mint(b.tx[i], token, b.tx[i], eth(100)).await?;
        b.client.approve(b.tx[i], token, eth(100)).await?;
    }
    // Steady state: the adjudicator already holds this token for other channels, and the participants hold some.
    for who in [b.chain.adjudicator(), alice.address(), hub.address()] {
        b.client.mint(b.tx[0], token, who, U256::from(1u8)).await?;
    }
    let lt = b.ledger(&alice, &hub);
    let id = channel_id(&lt);
    let t1 = b
        .client
        .deposit(b.tx[0], token, id, 0, U256::ZERO, eth(10))
        .await?
        .gas_used;
    let t2 = b
        .client
        .deposit(b.tx[1], token, id, 1, U256::ZERO, eth(20))
        .await?
        .gas_used;
    b.row(
        "operations",
        "ERC-20 deposit, first participant",
        t1,
        Some("erc20_deposit_first"),
    );
    b.row(
        "operations",
        "ERC-20 deposit, second participant",
        t2,
        Some("erc20_deposit_second"),
    );
    let tfin = state(
        &lt,
        3,
        vec![funded_asset(token, vec![eth(10), eth(20)])],
        Bytes::new(),
        true,
    );
    let tclose = b
        .client
        .conclude_and_withdraw(b.tx[2], &lt, &tfin, &b.sign(&tfin, &[&alice, &hub]))
        .await?
        .gas_used;
    b.row(
        "operations",
        "concludeAndWithdraw (happy close), ERC-20",
        tclose,
        Some("happy_exit_erc20_both_paid"),
    );

    // Direct dispute: challenge, time out, withdraw.
    let ld = b.ledger(&alice, &hub);
    b.fund(&ld, eth(2), eth(2)).await?;
    let s = state(
        &ld,
        20,
        vec![funded_asset(Address::ZERO, vec![eth(2), eth(2)])],
        Bytes::new(),
        false,
    );
    let ch = b
        .client
        .challenge(b.tx[0], &ld, &s, &b.sign(&s, &[&alice, &hub]), None)
        .await?
        .gas_used;
    b.chain.advance_time(3601).await?;
    let wd = b.client.withdraw(b.tx[0], &ld, &s).await?.gas_used;
    b.row(
        "operations",
        "challenge (ledger channel)",
        ch,
        Some("direct_dispute_both_paid.challenge"),
    );
    b.row(
        "operations",
        "withdraw after a challenge",
        wd,
        Some("direct_dispute_both_paid.transfer_all"),
    );
    b.row(
        "lifecycles",
        "direct dispute: challenge + withdraw",
        ch + wd,
        Some("direct_dispute_both_paid.total"),
    );

    // Checkpoints.
    let lc = b.ledger(&alice, &hub);
    b.fund(&lc, eth(1), eth(1)).await?;
    let sc = |v| {
        state(
            &lc,
            v,
            vec![funded_asset(Address::ZERO, vec![eth(1), eth(1)])],
            Bytes::new(),
            false,
        )
    };
    let s4 = sc(4);
    let cp = b
        .client
        .checkpoint(b.tx[0], &lc, &s4, &b.sign(&s4, &[&alice, &hub]))
        .await?
        .gas_used;
    b.row(
        "operations",
        "checkpoint (no challenge pending)",
        cp,
        Some("checkpoint_no_challenge_pending"),
    );
    let s6 = sc(6);
    b.client
        .challenge(b.tx[0], &lc, &s6, &b.sign(&s6, &[&alice, &hub]), None)
        .await?;
    let s9 = sc(9);
    let resp = b
        .client
        .checkpoint(b.tx[1], &lc, &s9, &b.sign(&s9, &[&alice, &hub]))
        .await?
        .gas_used;
    b.row(
        "operations",
        "challenge answered by checkpoint",
        resp,
        Some("checkpoint_clearing_a_challenge"),
    );

    // Griefing bonds (S17).
    bonds(&mut b).await?;

    // Ledger-funded dispute: V = [alice, bob] inside their direct ledger.
    ledger_funded(&mut b).await?;
    // Virtual-funded dispute: V = [alice, hub, bob]; alice exits through L1.
    virtual_funded(&mut b).await?;

    let mut claims = Vec::new();
    for &n in claim_sizes {
        claims.push(claim_against_table(&mut b, n).await?);
    }
    Ok(GasReport {
        rows: b.rows,
        claims,
    })
}

/// S17's rows: a ledger channel whose params name a 0.001 ETH challenge bond. A stale challenge answered by a
/// newer one (the bond goes to the answerer, who posts its own) and by a checkpoint; a challenge whose state
/// finalizes, its bond reclaimed.
async fn bonds(b: &mut Bench) -> Result<()> {
    let (alice, hub) = (b.alice.clone(), b.hub.clone());
    let bonded = |b: &Bench| {
        let mut p = b.ledger(&alice, &hub);
        p.challengeBond = U96::from(1_000_000_000_000_000u64);
        p
    };
    let at = |p: &ChannelParams, v| {
        state(
            p,
            v,
            vec![funded_asset(Address::ZERO, vec![eth(1), eth(1)])],
            Bytes::new(),
            false,
        )
    };
    // Stale challenge, answered by a newer challenge.
    let lb = bonded(b);
    b.fund(&lb, eth(1), eth(1)).await?;
    let (stale, newer) = (at(&lb, 5), at(&lb, 8));
    let posted = b
        .client
        .challenge(b.tx[0], &lb, &stale, &b.sign(&stale, &[&alice, &hub]), None)
        .await?
        .gas_used;
    let answered = b
        .client
        .challenge(b.tx[1], &lb, &newer, &b.sign(&newer, &[&alice, &hub]), None)
        .await?
        .gas_used;
    b.chain.advance_time(3601).await?;
    let reclaimed = b
        .client
        .reclaim_bond(b.tx[1], channel_id(&lb))
        .await?
        .gas_used;
    b.row(
        "griefing bonds (S17)",
        "challenge posting a bond (ledger)",
        posted,
        None,
    );
    b.row(
        "griefing bonds (S17)",
        "stale bonded challenge answered by a newer challenge (bond taken, own bond posted)",
        answered,
        None,
    );
    b.row(
        "griefing bonds (S17)",
        "reclaimBond after the challenger's state finalized",
        reclaimed,
        None,
    );
    // Stale challenge, answered by a checkpoint.
    let lc = bonded(b);
    b.fund(&lc, eth(1), eth(1)).await?;
    let (stale, newer) = (at(&lc, 5), at(&lc, 8));
    b.client
        .challenge(b.tx[0], &lc, &stale, &b.sign(&stale, &[&alice, &hub]), None)
        .await?;
    let checkpointed = b
        .client
        .checkpoint(b.tx[1], &lc, &newer, &b.sign(&newer, &[&alice, &hub]))
        .await?
        .gas_used;
    b.row(
        "griefing bonds (S17)",
        "stale bonded challenge answered by checkpoint (bond taken)",
        checkpointed,
        None,
    );
    Ok(())
}

/// One party's exit from a virtual channel over `path` (one ledger per hop, each funded with 5 ETH a side, V
/// holding 3 ETH of A and 1 of B): challenge A's ledger, challenge V with an endpoint state and the certificate,
/// wait out the window, withdraw A's ledger and claim V's leaf in it. Returns the four receipts' gas.
async fn exit_through_claim(b: &mut Bench, path: &[Signer]) -> Result<[u64; 4]> {
    let mut ledgers = Vec::new();
    for pair in path.windows(2) {
        let l = b.ledger(&pair[0], &pair[1]);
        b.fund(&l, eth(5), eth(5)).await?;
        ledgers.push(l);
    }
    let addresses = path.iter().map(Signer::address).collect();
    let hops = ledgers.iter().map(channel_id).collect();
    let v = virtual_params(&b.ctx, addresses, hops, Address::ZERO, 3600, 0);
    let amounts = vec![AssetAmount {
        asset: Address::ZERO,
        amount: eth(4),
    }];
    let leaf = SubAlloc {
        fee: U256::ZERO,
        channelId: channel_id(&v),
        amounts,
    };
    let mut tree = SubTree::new();
    tree.insert(leaf.clone())?;
    let (first, second) = (&path[0], &path[1]);
    let l = &ledgers[0];
    let sl = b.ledger_state_with(l, 9, [eth(2), eth(4)], &tree, eth(4), false);
    let c1 = b
        .client
        .challenge(b.tx[0], l, &sl, &b.sign(&sl, &[first, second]), None)
        .await?
        .gas_used;
    let sv = b.virtual_state(&v, 40, eth(3), eth(1), eth(2), false);
    let everyone: Vec<&Signer> = path.iter().collect();
    let cert = b.certificate(&v, eth(3), eth(1), &everyone);
    let endpoints = [first, &path[path.len() - 1]];
    let c2 = b
        .client
        .challenge(b.tx[0], &v, &sv, &b.sign(&sv, &endpoints), Some(&cert))
        .await?
        .gas_used;
    b.chain.advance_time(3601).await?;
    let w = b.client.withdraw(b.tx[0], l, &sl).await?.gas_used;
    let proof = tree.proof(&leaf.channelId)?;
    let cl = b
        .client
        .claim(b.tx[0], l, &sl, &leaf, &proof, &v, &sv)
        .await?
        .gas_used;
    Ok([c1, c2, w, cl])
}

/// V = [alice, bob] inside their direct ledger (Nitro's ledger-funded channel).
async fn ledger_funded(b: &mut Bench) -> Result<()> {
    let path = [b.alice.clone(), b.bob.clone()];
    let [c1, c2, w, cl] = exit_through_claim(b, &path).await?;
    let section = "ledger-funded dispute";
    b.row(section, "challenge ledger", c1, None);
    b.row(
        section,
        "challenge V (endpoint state + certificate)",
        c2,
        None,
    );
    b.row(section, "withdraw ledger", w, None);
    b.row(section, "claim V's leaf", cl, None);
    b.row(
        "lifecycles",
        "ledger-funded dispute: total",
        c1 + c2 + w + cl,
        Some("ledger_funded_dispute_total"),
    );
    Ok(())
}

/// V = [alice, hub, bob]; alice exits through her ledger with the hub.
async fn virtual_funded(b: &mut Bench) -> Result<()> {
    let path = [b.alice.clone(), b.hub.clone(), b.bob.clone()];
    let [c1, c2, w, cl] = exit_through_claim(b, &path).await?;
    let section = "virtual-funded dispute";
    b.row(
        section,
        "challenge ledger",
        c1,
        Some("virtual_funded_dispute.challenge_ledger"),
    );
    b.row(
        section,
        "challenge V (endpoint state + certificate)",
        c2,
        Some("virtual_funded_dispute.challenge_virtual"),
    );
    b.row(
        section,
        "claim V's leaf (Nitro: reclaim)",
        cl,
        Some("virtual_funded_dispute.reclaim_ledger"),
    );
    b.row(
        section,
        "withdraw ledger (Nitro: transfer all)",
        w,
        Some("virtual_funded_dispute.transfer_all_ledger"),
    );
    b.row(
        "lifecycles",
        "virtual-funded dispute with a claim: total",
        c1 + c2 + w + cl,
        Some("virtual_funded_dispute.total"),
    );
    Ok(())
}

/// Claims V's leaf from a ledger whose table holds `n` leaves, V's in the last slot.
async fn claim_against_table(b: &mut Bench, n: usize) -> Result<ClaimScaling> {
    let (alice, hub, bob) = (b.alice.clone(), b.hub.clone(), b.bob.clone());
    let l = b.ledger(&alice, &hub);
    b.fund(&l, eth(5), eth(5)).await?;
    let path = vec![alice.address(), hub.address(), bob.address()];
    let other_hop = B256::from(U256::from(n as u64 + 1));
    let v = virtual_params(
        &b.ctx,
        path,
        vec![channel_id(&l), other_hop],
        Address::ZERO,
        3600,
        0,
    );
    let leaf = SubAlloc {
        fee: U256::ZERO,
        channelId: channel_id(&v),
        amounts: vec![AssetAmount {
            asset: Address::ZERO,
            amount: eth(4),
        }],
    };
    let others = (1..n as u64).map(|i| SubAlloc {
        fee: U256::ZERO,
        channelId: keccak256(i.to_be_bytes()),
        amounts: vec![],
    });
    let tree = SubTree::from_leaves(others.chain(std::iter::once(leaf.clone())))?;
    let s = b.ledger_state_with(&l, 5, [eth(2), eth(4)], &tree, eth(4), true);
    b.client
        .conclude(b.tx[0], &l, &s, &b.sign(&s, &[&alice, &hub]))
        .await?;
    let vfin = b.virtual_state(&v, 30, eth(3), eth(1), eth(1), true);
    b.client
        .conclude(b.tx[0], &v, &vfin, &b.sign(&vfin, &[&alice, &hub, &bob]))
        .await?;
    let proof = tree.proof(&leaf.channelId)?;
    let gas = b
        .client
        .claim(b.tx[0], &l, &s, &leaf, &proof, &v, &vfin)
        .await?
        .gas_used;
    Ok(ClaimScaling {
        sub_channels: n,
        siblings: proof.siblings.len(),
        gas,
    })
}

fn thousands(x: u64) -> String {
    let s = x.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl GasReport {
    /// The report as a Markdown table, each row beside the anchor figure and the ratio.
    pub fn render(&self, anchors: &Anchors) -> String {
        let mut out = String::new();
        out.push_str("| section | operation | Ferry gas | Nitro gas (steady state) | Ferry / Nitro |\n|---|---|---:|---:|---:|\n");
        let mut over = Vec::new();
        for r in &self.rows {
            let nitro = r.anchor.and_then(|k| anchors.nitro(k));
            let (n, ratio) = match nitro {
                Some(n) => {
                    if r.ferry > n {
                        over.push(r.operation.clone());
                    }
                    (thousands(n), format!("{:.2}", r.ferry as f64 / n as f64))
                }
                None => ("—".into(), "—".into()),
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                r.section,
                r.operation,
                thousands(r.ferry),
                n,
                ratio
            ));
        }
        let reclaim = anchors.nitro("virtual_funded_dispute.reclaim_ledger");
        for c in &self.claims {
            let (n, ratio) = match reclaim {
                Some(n) if c.sub_channels <= 2000 => {
                    (thousands(n), format!("{:.2}", c.gas as f64 / n as f64))
                }
                _ => (
                    "n/a: Nitro caps a ledger at ~2,000 guarantees".into(),
                    "—".into(),
                ),
            };
            out.push_str(&format!(
                "| claim scaling | claim against {} sub-channels ({} proof siblings) | {} | {} | {} |\n",
                thousands(c.sub_channels as u64),
                c.siblings,
                thousands(c.gas),
                n,
                ratio
            ));
        }
        out.push('\n');
        if over.is_empty() {
            out.push_str("Every compared row is at or below Nitro's figure.\n");
        } else {
            out.push_str(&format!("Above Nitro's figure: {}.\n", over.join("; ")));
        }
        out.push_str(&format!(
            "Nitro figures (like with like: recipients' accounts exist, both participants paid): {}\n",
            anchors.nitro_source
        ));
        out
    }
}
