//! What happened: events, transactions, refusals, challenges and conclusions, S4's check.

use super::*;

impl VirtualNet {
    // ------------------------------------------------------------------------------------------- what happened

    /// Every event member `k` emitted since the net was built (its ledgers' funding included), as collected.
    pub fn events(&self, k: usize) -> &[VirtualEvent] {
        &self.members[k].events
    }

    /// Takes member `k`'s events collected so far.
    pub fn take_events(&mut self, k: usize) -> Vec<VirtualEvent> {
        std::mem::take(&mut self.members[k].events)
    }

    /// On the synthetic chain, every transaction a member asked for since the ledgers were funded: (member, tx).
    pub fn tx_log(&self) -> &[(usize, Tx)] {
        &self.tx_log
    }

    /// Empties the transaction log.
    pub fn clear_tx_log(&mut self) {
        self.tx_log.clear();
    }

    /// Takes the transaction log.
    pub fn take_tx_log(&mut self) -> Vec<(usize, Tx)> {
        std::mem::take(&mut self.tx_log)
    }

    /// Why each message a member refused on delivery was refused.
    pub fn refused(&self) -> &[String] {
        &self.refused
    }

    /// Empties [`VirtualNet::refused`].
    pub fn clear_refused(&mut self) {
        self.refused.clear();
    }

    /// The challenges of virtual channels member `k` asked for (transaction log): the state it registers, and
    /// whether with a certificate.
    pub fn challenges_by(&self, k: usize) -> Vec<(SignedState, bool)> {
        self.tx_log
            .iter()
            .filter(|(i, _)| *i == k)
            .filter_map(|(_, tx)| match tx {
                Tx::Virtual(VirtualTx::Challenge { state, cert, .. }) => {
                    Some((state.clone(), cert.is_some()))
                }
                _ => None,
            })
            .collect()
    }

    /// The conclusions of virtual channels member `k` asked for (transaction log), by the final's version.
    pub fn conclusions_by(&self, k: usize) -> Vec<u64> {
        self.tx_log
            .iter()
            .filter(|(i, _)| *i == k)
            .filter_map(|(_, tx)| match tx {
                Tx::Virtual(VirtualTx::Conclude { state, .. }) => Some(state.version()),
                _ => None,
            })
            .collect()
    }

    /// Every state of ledger `hop` signed by both that member `k` held at the end of a round, by version (with
    /// [`VirtualNetBuilder::keep_ledger_history`]; empty otherwise).
    pub fn signed_states(&self, k: usize, hop: usize) -> Vec<SignedState> {
        self.history
            .as_ref()
            .and_then(|h| h.get(&(k, self.hops[hop])))
            .map(|h| h.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The first breach of S4 seen (with [`VirtualNetBuilder::check_one_final`]): two members holding two
    /// different finals of one virtual channel, each signed by the whole path.
    pub fn conflicting_finals(&self) -> Option<&str> {
        self.finals.as_ref().and_then(|f| f.as_deref())
    }

    /// After a round: the ledger history and the S4 check, when asked for.
    pub(super) fn audit(&mut self) {
        if let Some(history) = self.history.as_mut() {
            for (k, m) in self.members.iter().enumerate() {
                if m.offline {
                    continue;
                }
                for l in m.node.ledger().channels() {
                    if let Some(s) = l.supported() {
                        history
                            .entry((k, l.id()))
                            .or_default()
                            .entry(s.version())
                            .or_insert_with(|| s.clone());
                    }
                }
            }
        }
        if let Some(None) = self.finals {
            let mut seen: BTreeMap<B256, (usize, State)> = BTreeMap::new();
            for (i, m) in self.members.iter().enumerate() {
                for ch in m.node.channels() {
                    let Some(f) = ch.final_signed() else {
                        continue;
                    };
                    let id = f.state.channelId;
                    match seen.get(&id) {
                        Some((j, other)) if *other != f.state => {
                            self.finals = Some(Some(format!(
                                "members {j} and {i} hold two different finals of {id} signed by the whole path"
                            )));
                            return;
                        }
                        Some(_) => {}
                        None => {
                            seen.insert(id, (i, f.state));
                        }
                    }
                }
            }
        }
    }
}
