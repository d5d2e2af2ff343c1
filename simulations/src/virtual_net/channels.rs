//! Virtual channels: opening one over the path (or part of it) and reading each member's record.

use super::*;

impl VirtualNet {
    // ------------------------------------------------------------------------------------------- virtual channels

    /// Opens a virtual channel from its first endpoint ([`OpenV`]), at the local clock; nothing is delivered
    /// yet. The one place the harness opens a virtual channel.
    pub fn open(&mut self, req: OpenV) -> ferry_virtual::Result<B256> {
        let members = self.path_members(req.ends);
        let (first, last) = (members[0], members[members.len() - 1]);
        let hops: Vec<B256> = if first <= last {
            self.hops[first..last].to_vec()
        } else {
            self.hops[last..first].iter().rev().copied().collect()
        };
        let app = match req.app {
            App::Payment => self.apps.payment,
            App::Game => self.apps.game,
            App::Custom(i) => self.custom_app(i),
            App::At(a) => a,
        };
        let fees = req.fees.unwrap_or_else(|| {
            let total = req
                .balances
                .first()
                .map_or(U256::ZERO, |(_, [a, b])| *a + *b);
            members
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    if i == 0 || i + 1 == members.len() {
                        U256::ZERO
                    } else {
                        self.members[*m].node.quote(total)
                    }
                })
                .collect()
        });
        let path = members.iter().map(|m| self.addr(*m)).collect();
        let now = self.now;
        self.members[first].node.open(
            OpenRequest {
                path,
                hops,
                app,
                balances: req.balances,
                fees,
                challenge_duration: req.challenge_duration,
            },
            now,
        )
    }

    /// The members on the path of a virtual channel from `ends` (see [`OpenV::ends`]), first endpoint first.
    pub fn path_members(&self, ends: Option<(usize, usize)>) -> Vec<usize> {
        let (first, last) = ends.unwrap_or((0, self.members() - 1));
        if first <= last {
            (first..=last).collect()
        } else {
            (last..=first).rev().collect()
        }
    }

    /// [`VirtualNet::open`], then [`VirtualNet::pump`]; returns V's id.
    ///
    /// # Panics
    ///
    /// When V is refused, or when it is not open at every member of its path once the net is quiet.
    pub fn open_and_pump(&mut self, req: OpenV) -> B256 {
        let members = self.path_members(req.ends);
        let v = self.open(req).expect("V's first endpoint opens it");
        self.pump();
        for k in members {
            assert_eq!(
                self.v_phase(k, v),
                Some(VirtualPhase::Open),
                "V is open at member {k}: refused {:?}",
                self.refused
            );
        }
        v
    }

    /// [`VirtualNet::open`], then ticks until V is open at every member of its path, at most `ticks` times;
    /// returns V's id.
    ///
    /// # Panics
    ///
    /// When V is refused, or not open everywhere in time.
    pub fn open_and_run(&mut self, req: OpenV, ticks: usize) -> B256 {
        let members = self.path_members(req.ends);
        let v = self.open(req).expect("V's first endpoint opens it");
        let open = self.run_until(ticks, |net| {
            members
                .iter()
                .all(|k| net.v_phase(*k, v) == Some(VirtualPhase::Open))
        });
        assert!(open, "V did not open: {:?}", self.failed);
        v
    }

    /// A pays into a new payment channel over the whole path `a`, B `b` (at the quoted fees); nothing delivered.
    ///
    /// # Panics
    ///
    /// When A's node refuses to open it.
    pub fn open_payment(&mut self, a: u64, b: u64) -> B256 {
        self.open(OpenV::payment(a, b)).expect("A opens V")
    }

    /// Member `k`'s record of virtual channel `v`.
    pub fn channel(&self, k: usize, v: B256) -> Option<&VirtualChannel> {
        self.members[k].node.channel(&v)
    }

    /// Where `v` is at member `k`.
    pub fn v_phase(&self, k: usize, v: B256) -> Option<VirtualPhase> {
        self.channel(k, v).map(|c| c.phase())
    }

    /// Whether every member holds `v` in `phase`.
    pub fn all_in(&self, v: B256, phase: VirtualPhase) -> bool {
        (0..self.members()).all(|k| self.v_phase(k, v) == Some(phase))
    }
}
