//! The net's options and how it is built: keys, chain, apps, then each ledger opened and funded.

use super::*;

/// A change to the ledger settings ([`VirtualNetBuilder::ledger_config`]).
type ConfigChange = Box<dyn Fn(&mut Config)>;

/// Options of a [`VirtualNet`]; [`VirtualNetBuilder::build`] makes it.
pub struct VirtualNetBuilder {
    members: usize,
    deposit: U256,
    chain: ChainKind,
    leaders: Leaders,
    ledger_config: Vec<ConfigChange>,
    policy: Option<IntermediaryPolicy>,
    seed: u64,
    keep_ledger_history: bool,
    check_one_final: bool,
    custom_apps: Vec<CustomApp>,
}

impl std::fmt::Debug for VirtualNetBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualNetBuilder")
            .field("members", &self.members)
            .field("deposit", &self.deposit)
            .field("chain", &self.chain)
            .field("leaders", &self.leaders)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl VirtualNetBuilder {
    /// Each side's deposit in each ledger (ETH; default [`DEFAULT_DEPOSIT`]). The members accept ledgers up to it.
    pub fn deposit(mut self, amount: U256) -> Self {
        self.deposit = amount;
        self
    }

    /// The chain (default [`ChainKind::Synthetic`]).
    pub fn chain(mut self, chain: ChainKind) -> Self {
        self.chain = chain;
        self
    }

    /// On the [`EmbeddedChain`], events counting after `confirmations` blocks.
    pub fn embedded(self, confirmations: u64) -> Self {
        self.chain(ChainKind::Embedded { confirmations })
    }

    /// Who opens each ledger (default [`Leaders::Alternating`]).
    pub fn leaders(mut self, leaders: Leaders) -> Self {
        self.leaders = leaders;
        self
    }

    /// Changes the ledger settings every member runs with, after the harness's own: each member accepts a ledger
    /// up to the deposit, and on the embedded chain gives a silent peer up after 5 s (`peer_timeout_ms`) and sends
    /// its closing transactions after 1 s (`grace_ms`), so that on-chain fallbacks start within a few hundred
    /// ticks. Several calls apply in order.
    pub fn ledger_config(mut self, change: impl Fn(&mut Config) + 'static) -> Self {
        self.ledger_config.push(Box::new(change));
        self
    }

    /// The policy every intermediary routes by (default: [`IntermediaryPolicy::default`], no fee).
    pub fn intermediary_policy(mut self, policy: IntermediaryPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The seed of the members' keys on the synthetic chain and of the wire's faults (default 0).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Keeps, after every round, each ledger state signed by both that each member holds
    /// ([`VirtualNet::signed_states`]: a byzantine member's ammunition).
    pub fn keep_ledger_history(mut self) -> Self {
        self.keep_ledger_history = true;
        self
    }

    /// Checks S4 after every round: two members holding two different finals of a virtual channel, each signed by
    /// the whole path, is recorded ([`VirtualNet::conflicting_finals`]).
    pub fn check_one_final(mut self) -> Self {
        self.check_one_final = true;
        self
    }

    /// Adds an app builder's own turn-based app: every member declares `rules` for it (again after each restart),
    /// and on the embedded chain `bytecode` is deployed, so that moves played on-chain run its contract. Open a
    /// channel with it as [`App::Custom`]`(i)`, `i` counting the calls from 0; [`VirtualNet::custom_app`] gives
    /// its address.
    pub fn custom_app(mut self, rules: impl TurnApp + 'static, bytecode: Bytes) -> Self {
        self.custom_apps.push(CustomApp {
            rules: Arc::new(rules),
            bytecode,
        });
        self
    }

    /// Builds the net: the members' nodes, then each ledger opened by its leader and funded by both sides.
    ///
    /// # Panics
    ///
    /// With fewer than 2 members, or when a ledger does not get funded (a harness or protocol bug).
    pub fn build(self) -> VirtualNet {
        assert!(self.members >= 2, "a path has at least two members");
        let n = self.members;
        let mut rng = StdRng::seed_from_u64(self.seed);
        let (chain, keys, ctx, apps) = match self.chain {
            ChainKind::Synthetic => {
                let keys: Vec<Signer> = (0..n)
                    .map(|_| {
                        loop {
                            let secret = B256::from(rng.random::<[u8; 32]>());
                            if let Ok(key) = Signer::from_bytes(&secret) {
                                break key;
                            }
                        }
                    })
                    .collect();
                let ctx = ChainContext {
                    chain_id: SYNTHETIC_CHAIN_ID,
                    adjudicator: SYNTHETIC_ADJUDICATOR,
                };
                let apps = Apps {
                    payment: SYNTHETIC_PAYMENT_APP,
                    game: SYNTHETIC_GAME_APP,
                    custom: self
                        .custom_apps
                        .iter()
                        .enumerate()
                        .map(|(i, app)| (synthetic_app_address(i), app.rules.clone()))
                        .collect(),
                };
                (ChainSide::Synthetic { position: 0 }, keys, ctx, apps)
            }
            ChainKind::Embedded { confirmations } => {
                let chain = Arc::new(
                    EmbeddedChain::builder()
                        .chain_id(DEFAULT_CHAIN_ID)
                        .accounts(n + 1)
                        .confirmations(confirmations)
                        .build()
                        .expect("the embedded chain starts"),
                );
                let keys: Vec<Signer> = (0..n)
                    .map(|i| {
                        Signer::from_bytes(&EmbeddedChain::account_key(i + 1))
                            .expect("an account key")
                    })
                    .collect();
                let ctx = ChainContext {
                    chain_id: chain.chain_id(),
                    adjudicator: chain.adjudicator(),
                };
                let deployed = |a| chain.deployed(a).expect("a bundled app is deployed");
                // Account 0 is no member's: it deploys the custom apps.
                let deployer = chain.accounts()[0];
                let custom = self
                    .custom_apps
                    .iter()
                    .map(|app| {
                        let receipt = ready(chain.deploy(deployer, app.bytecode.clone()))
                            .unwrap_or_else(|e| panic!("deploying a custom app: {e}"));
                        let address = receipt
                            .contract_address
                            .expect("a deployment's receipt names the contract");
                        (address, app.rules.clone())
                    })
                    .collect();
                let apps = Apps {
                    payment: deployed(Artifact::PaymentApp),
                    game: deployed(Artifact::RockPaperScissors),
                    custom,
                };
                let client = AdjudicatorClient::new(chain.clone());
                (ChainSide::Embedded { chain, client }, keys, ctx, apps)
            }
        };
        let mut config = Config {
            open: OpenPolicy {
                accept: true,
                max_own_deposit: self.deposit,
                ..OpenPolicy::default()
            },
            ..Config::default()
        };
        if chain.is_embedded() {
            config.peer_timeout_ms = 5_000;
            config.grace_ms = 1_000;
        }
        for change in &self.ledger_config {
            change(&mut config);
        }
        let members = keys
            .into_iter()
            .enumerate()
            .map(|(k, key)| {
                let policy = (k > 0 && k + 1 < n).then(|| self.policy.clone()).flatten();
                let mut member = Member {
                    node: start_node(&key, ctx, config.clone(), MemoryStore::new(), 0, &apps),
                    key,
                    offline: false,
                    events: Vec::new(),
                    policy: None,
                    retention: None,
                    inbox: None,
                };
                if let Some(p) = policy {
                    member.set_policy(p);
                }
                member
            })
            .collect();
        let mut net = VirtualNet {
            members,
            chain,
            ctx,
            apps,
            config,
            hops: Vec::new(),
            now: 0,
            rng,
            faults: Faults::default(),
            drop: None,
            wire: Vec::new(),
            tx_log: Vec::new(),
            refused: Vec::new(),
            landed: Vec::new(),
            failed: Vec::new(),
            history: self.keep_ledger_history.then(BTreeMap::new),
            finals: self.check_one_final.then_some(None),
            initial_holdings: (vec![U256::ZERO; n], U256::ZERO),
        };
        if net.chain.is_embedded() {
            net.initial_holdings = net.holdings();
            net.fund_on_chain(self.leaders, self.deposit);
        } else {
            net.fund_synthetic(self.leaders, self.deposit);
        }
        net.tx_log.clear();
        net
    }
}

impl VirtualNet {
    // ------------------------------------------------------------------------------------------- building

    /// Options for a net of `members` members (at least 2): 100 per side in each ledger, the synthetic chain,
    /// alternating ledger leaders, seed 0.
    pub fn builder(members: usize) -> VirtualNetBuilder {
        VirtualNetBuilder {
            members,
            deposit: U256::from(DEFAULT_DEPOSIT),
            chain: ChainKind::Synthetic,
            leaders: Leaders::Alternating,
            ledger_config: Vec::new(),
            policy: None,
            seed: 0,
            keep_ledger_history: false,
            check_one_final: false,
            custom_apps: Vec::new(),
        }
    }

    /// A path of `members` members on the synthetic chain with the default options (see
    /// [`VirtualNet::builder`]).
    pub fn path(members: usize) -> Self {
        Self::builder(members).build()
    }

    /// The ledger amounts: `deposit` per side.
    fn amounts(deposit: U256) -> [(Address, [U256; 2]); 1] {
        [(ETH, [deposit, deposit])]
    }

    /// Ledger `k`'s leader opens it with its neighbour, `deposit` per side: the ledger's id, its opener and its peer.
    fn open_ledger(&mut self, k: usize, leaders: Leaders, deposit: U256) -> (B256, usize, usize) {
        let opener = leaders.leader(k, self.members());
        let peer = if opener == k { k + 1 } else { k };
        let (peer_addr, now) = (self.addr(peer), self.now);
        let id = self.members[opener]
            .node
            .ledger_mut()
            .open(peer_addr, &Self::amounts(deposit), CHALLENGE_DURATION, now)
            .expect("the leader opens its ledger");
        (id, opener, peer)
    }

    /// Opens each ledger in turn and funds it with synthetic deposit events, delivering the messages as they go
    /// (no timer: the clock stands still).
    fn fund_synthetic(&mut self, leaders: Leaders, deposit: U256) {
        let n = self.members();
        for k in 0..n - 1 {
            let (id, opener, peer) = self.open_ledger(k, leaders, deposit);
            self.flush();
            let mut total = U256::ZERO;
            for p in 0..2u8 {
                total += deposit;
                let ev = Event::Deposited(IAdjudicator::Deposited {
                    channelId: id,
                    asset: ETH,
                    participant: U256::from(p),
                    taken: deposit,
                    depositedTotal: total,
                });
                self.feed([opener, peer], &ev);
                self.flush();
            }
            for m in [k, k + 1] {
                assert_eq!(
                    self.members[m]
                        .node
                        .ledger()
                        .channel(&id)
                        .map(|c| c.phase()),
                    Some(Phase::Running),
                    "ledger {k} is funded at member {m}: refused {:?}",
                    self.refused
                );
            }
            self.hops.push(id);
        }
    }

    /// Opens every ledger and ticks until the chain funded them all.
    fn fund_on_chain(&mut self, leaders: Leaders, deposit: U256) {
        let n = self.members();
        for k in 0..n - 1 {
            let (id, _, _) = self.open_ledger(k, leaders, deposit);
            self.hops.push(id);
        }
        let funded = self.run_until(300, |net| {
            (0..n - 1).all(|k| {
                net.ledger_phase(k, k) == Some(Phase::Running)
                    && net.ledger_phase(k + 1, k) == Some(Phase::Running)
            })
        });
        assert!(funded, "ledgers not funded: {:?}", self.failed);
    }
}
