//! A second outside reviewer's attacks on the ledger core (every refused proposal kept and adopted when registered,
//! `state_at` after a conclude, one funding deposit per asset), kept as regression tests on the embedded chain. The
//! reviewer wrote each as a test that passed while the attack worked; each now plays the same attack and asserts the
//! defence (the honest party paid, nothing locked, the node bounded, no gas spent at a stranger's command). The
//! tests of holes closed by this round's fixes (the `Checkpointed` event carrying the state, adopted by
//! `adopt_newer`; the bound on queued requests; top-ups counted only for known assets; the funding timeout) fail on
//! the code before them.

mod checkpoints;
mod defences;
mod funding_liveness;
mod resource_bounds;
mod strangers;
