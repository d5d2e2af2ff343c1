//! The wire: message rounds, faults, the drop hook, timers and ticks.

use super::*;

impl VirtualNet {
    // ------------------------------------------------------------------------------------------- the wire

    /// The random faults of the wire (seeded); [`Faults::default`] heals it.
    pub fn set_faults(&mut self, faults: Faults) {
        self.faults = faults;
    }

    /// Loses every message `hook` picks, on top of the random faults, until [`VirtualNet::clear_drop`].
    pub fn set_drop(&mut self, hook: impl FnMut(usize, usize, &Message) -> bool + Send + 'static) {
        self.drop = Some(Box::new(hook));
    }

    /// Removes the drop hook.
    pub fn clear_drop(&mut self) {
        self.drop = None;
    }

    /// Messages on the wire, not yet due.
    pub fn in_flight(&self) -> usize {
        self.wire.len()
    }

    /// Hands `msg` to member `to` as if member `from` sent it (a byzantine member's own message, or a replay),
    /// at the local clock, whether or not either is offline; returns what the node answered.
    pub fn inject(&mut self, from: usize, to: usize, msg: Message) -> ferry_virtual::Result<()> {
        let (sender, now) = (self.addr(from), self.now);
        self.members[to].node.handle_message(sender, msg, now)
    }

    /// Moves every online member's pending events (and, on the synthetic chain, transactions) into the logs;
    /// returns the messages they sent.
    fn collect(&mut self) -> Vec<(usize, usize, Message)> {
        let synthetic = !self.chain.is_embedded();
        let mut out = Vec::new();
        for (i, m) in self.members.iter_mut().enumerate() {
            if m.offline {
                continue;
            }
            while let Some((to, msg)) = m.node.poll_transmit() {
                out.push((i, to, msg));
            }
            if synthetic {
                while let Some(tx) = m.node.poll_tx() {
                    self.tx_log.push((i, tx));
                }
            }
            while let Some(e) = m.node.poll_event() {
                m.events.push(e);
            }
        }
        out.into_iter()
            .map(|(from, to, msg)| (from, self.index(to), msg))
            .collect()
    }

    /// Puts `msg` on the wire, through the offline members, the drop hook and the random faults.
    fn send(&mut self, from: usize, to: usize, msg: Message) {
        if self.members[from].offline || self.members[to].offline {
            return;
        }
        if self.drop.as_mut().is_some_and(|lost| lost(from, to, &msg)) {
            return;
        }
        let f = self.faults;
        if f.drop_pct > 0 && self.rng.random_range(0..100u8) < f.drop_pct {
            return;
        }
        let copies = if f.dup_pct > 0 && self.rng.random_range(0..100u8) < f.dup_pct {
            2
        } else {
            1
        };
        let mut delays = [0u64; 2];
        for d in delays.iter_mut().take(copies) {
            if f.max_delay_ms > 0 {
                *d = self.rng.random_range(0..=f.max_delay_ms);
            }
        }
        if copies == 2 {
            self.wire.push(InFlight {
                at: self.now + delays[1],
                from,
                to,
                msg: msg.clone(),
            });
        }
        self.wire.push(InFlight {
            at: self.now + delays[0],
            from,
            to,
            msg,
        });
    }

    /// Delivers every message due at the local clock; returns what it moved.
    fn deliver_due(&mut self) -> Traffic {
        let mut traffic = Traffic::default();
        if self.wire.is_empty() {
            return traffic;
        }
        self.wire.sort_by_key(|w| w.at);
        let due = self.wire.partition_point(|w| w.at <= self.now);
        let now = self.now;
        for w in self.wire.drain(..due) {
            let sender = self.members[w.from].key.address();
            let member = &mut self.members[w.to];
            if let Some(inbox) = member.inbox.as_mut()
                && inbox.len() < INBOX_CAP
            {
                inbox.push((w.from, w.msg.clone()));
            }
            if member.offline {
                continue;
            }
            traffic.messages += 1;
            if let Err(e) = member.node.handle_message(sender, w.msg, now) {
                traffic.refused += 1;
                self.refused.push(format!(
                    "member {} refused a message from member {}: {e}",
                    w.to, w.from
                ));
            }
        }
        traffic
    }

    /// One round of messages with the clock standing still: what every online member sends goes on the wire,
    /// except what `lost` picks by sender and receiver, and what is due is delivered. No timer fires.
    pub fn step(&mut self, lost: impl Fn(usize, usize) -> bool) {
        self.step_selective(|from, to, _| lost(from, to));
    }

    /// [`VirtualNet::step`], `lost` picking by sender, receiver and message.
    pub fn step_selective(&mut self, mut lost: impl FnMut(usize, usize, &Message) -> bool) {
        for (from, to, msg) in self.collect() {
            if !lost(from, to, &msg) {
                self.send(from, to, msg);
            }
        }
        self.deliver_due();
        self.audit();
    }

    /// Delivers messages until the net is quiet, firing timers as it goes: when nothing is left to deliver, the
    /// clock moves to the next timer or delayed message due within [`PUMP_HORIZON_MS`] (every online member's
    /// timers are handled then); beyond that, the pump stops.
    ///
    /// A ledger config whose resends stay within the horizon (`max_resend_ms` under [`PUMP_HORIZON_MS`]) may keep
    /// the net from ever being quiet: tick such a net instead.
    ///
    /// # Panics
    ///
    /// When the net is not quiet after [`MAX_PUMP_ROUNDS`] rounds, or a node fails on a timer.
    pub fn pump(&mut self) -> Traffic {
        self.pump_inner(true)
    }

    /// Delivers messages until no member has anything to send, without firing timers or moving the clock.
    ///
    /// # Panics
    ///
    /// When the net is not quiet after [`MAX_PUMP_ROUNDS`] rounds.
    pub fn flush(&mut self) -> Traffic {
        self.pump_inner(false)
    }

    fn pump_inner(&mut self, timers: bool) -> Traffic {
        let mut total = Traffic::default();
        for _ in 0..MAX_PUMP_ROUNDS {
            let out = self.collect();
            let sent = !out.is_empty();
            for (from, to, msg) in out {
                self.send(from, to, msg);
            }
            let moved = self.deliver_due();
            total.messages += moved.messages;
            total.refused += moved.refused;
            self.audit();
            if sent || moved.messages > 0 {
                continue;
            }
            let next_message = self.wire.iter().map(|w| w.at).min();
            let next_timer = if timers {
                self.members
                    .iter()
                    .filter(|m| !m.offline)
                    .filter_map(|m| m.node.poll_timeout())
                    .min()
            } else {
                None
            };
            match next_message.into_iter().chain(next_timer).min() {
                Some(t) if t <= self.now + PUMP_HORIZON_MS => {
                    self.now = self.now.max(t);
                    if next_timer.is_some_and(|t| t <= self.now) {
                        self.fire_timers();
                    }
                }
                _ => return total,
            }
        }
        panic!("no quiescence after {MAX_PUMP_ROUNDS} rounds");
    }

    /// Hands every online member the local clock as a timeout (what is due fires).
    ///
    /// # Panics
    ///
    /// When a node fails on it (its store).
    pub fn fire_timers(&mut self) {
        let now = self.now;
        for m in self.members.iter_mut().filter(|m| !m.offline) {
            m.node
                .handle_timeout(now)
                .expect("a node handles its timers");
        }
    }

    /// One tick of [`TICK_MS`]: see [`VirtualNet::tick_by`].
    pub fn tick(&mut self) {
        self.tick_by(TICK_MS);
    }

    /// One tick: what every online member sends goes on the wire, what is due is delivered, each online member's
    /// due timers fire and it does its chain duties (on the embedded chain: its transactions submitted and the
    /// chain's confirmed events read, a block mined when events need more than one confirmation); then the local
    /// clock moves by `dt` ms.
    ///
    /// # Panics
    ///
    /// When a node fails on a timer or the chain cannot be read (a harness or store failure; a transaction that
    /// fails is recorded in [`VirtualNet::failed`]).
    pub fn tick_by(&mut self, dt: u64) {
        for (from, to, msg) in self.collect() {
            self.send(from, to, msg);
        }
        self.deliver_due();
        let now = self.now;
        for m in self.members.iter_mut().filter(|m| !m.offline) {
            if m.node.poll_timeout().is_some_and(|t| t <= now) {
                m.node
                    .handle_timeout(now)
                    .expect("a node handles its timers");
            }
        }
        if let ChainSide::Embedded { chain, .. } = &self.chain {
            let chain = chain.clone();
            for k in 0..self.members() {
                if !self.members[k].offline {
                    self.drive(k);
                }
            }
            if chain.confirmations() > 1 {
                chain.mine();
            }
        }
        self.audit();
        self.now += dt;
    }

    /// `steps` ticks.
    pub fn run(&mut self, steps: usize) {
        for _ in 0..steps {
            self.tick();
        }
    }

    /// Ticks until `done` holds, at most `steps` times; returns whether it holds.
    pub fn run_until(&mut self, steps: usize, done: impl Fn(&Self) -> bool) -> bool {
        for _ in 0..steps {
            if done(self) {
                return true;
            }
            self.tick();
        }
        done(self)
    }

    /// The local clock (ms).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Sets the local clock (ms); nothing fires until the net is moved.
    pub fn set_now(&mut self, ms: u64) {
        self.now = ms;
    }
}
