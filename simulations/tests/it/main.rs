//! Ferry's whole-protocol tests, in one binary (one link of the heavy dependencies instead of one per file).
//!
//! Virtual channels:
//! - [`virtual_channels`]: open, pay, settle, refusals, crashes, fees, games, the on-chain settle and fallback,
//!   byzantine members and the network property test, all on the `VirtualNet` harness.
//!
//! Ledger channels:
//! - [`ledger_e2e`], [`ledger_props`]: two ledger nodes end to end and under generated faults.
//! - [`ledger_hoarder`]: a generated adversary that hoards every signature it is given.
//! - [`outside_attack`], [`outside_attack_2`], [`outside_attack_3`]: the outside attackers' findings, kept.
//! - [`outside_attack_6`]: the sixth outside attacker's findings, as tests that pass while each attack works.
//! - [`outside_attack_7`]: the seventh outside attacker's findings, as tests that pass while each attack works.
//! - [`model_check`]: the ledger and hub protocols explored exhaustively with stateright.
//!
//! Chain and cost:
//! - [`differential`]: Solidity and Rust on the same inputs.
//! - [`gas_report`]: every on-chain path end to end, with the expected shape.

mod common;
mod differential;
mod gas_report;
mod griefing;
mod ledger_e2e;
mod ledger_hoarder;
mod ledger_props;
mod model_check;
mod outside_attack;
mod outside_attack_11;
mod outside_attack_2;
mod outside_attack_3;
mod outside_attack_4;
mod outside_attack_5;
mod outside_attack_6;
mod outside_attack_7;
mod outside_attack_8;
mod outside_attack_9;
mod virtual_channels;
