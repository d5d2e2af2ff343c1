//! The anchors' published gas figures (`anchors/gas.json`), embedded at build time so the project stands alone.

use serde::Deserialize;
use std::collections::BTreeMap;

use crate::{Error, Result};

const GAS_JSON: &str = include_str!("../anchors/gas.json");

/// Nitro's and Raiden's gas figures, by operation name as `gas.json` spells it. Ferry's report compares with
/// `nitro_steady_state` (Nitro's contracts re-measured with every recipient's account existing and both
/// participants paid, as in Ferry's own measurement), not with Nitro's published figures, whose payouts each
/// create an account (25,000 gas) and whose happy exit pays one participant only.
#[derive(Debug, Clone)]
pub struct Anchors {
    nitro: BTreeMap<String, u64>,
    published: BTreeMap<String, u64>,
    raiden: BTreeMap<String, u64>,
    /// Where Nitro's steady-state figures come from.
    pub nitro_source: String,
}

#[derive(Deserialize)]
struct RawAnchors {
    nitro: BTreeMap<String, serde_json::Value>,
    nitro_steady_state: BTreeMap<String, serde_json::Value>,
    raiden: BTreeMap<String, serde_json::Value>,
}

fn numbers(raw: &BTreeMap<String, serde_json::Value>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (key, value) in raw {
        match value {
            serde_json::Value::Number(n) => {
                if let Some(n) = n.as_u64() {
                    out.insert(key.clone(), n);
                }
            }
            serde_json::Value::Object(parts) => {
                for (part, v) in parts {
                    if let Some(n) = v.as_u64() {
                        out.insert(format!("{key}.{part}"), n);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

impl Anchors {
    /// Parses the embedded `gas.json`.
    pub fn load() -> Result<Self> {
        let raw: RawAnchors =
            serde_json::from_str(GAS_JSON).map_err(|e| Error::Anchors(e.to_string()))?;
        let nitro_source = raw
            .nitro_steady_state
            .get("source")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            nitro: numbers(&raw.nitro_steady_state),
            published: numbers(&raw.nitro),
            raiden: numbers(&raw.raiden),
            nitro_source,
        })
    }

    /// Nitro's steady-state figure for `key` (e.g. `eth_deposit_first`, `virtual_funded_dispute.challenge_virtual`).
    pub fn nitro(&self, key: &str) -> Option<u64> {
        self.nitro.get(key).copied()
    }

    /// Nitro's published figure for `key` (e.g. `happy_exit_eth_conclude_and_transfer_all`), for reference only.
    pub fn nitro_published(&self, key: &str) -> Option<u64> {
        self.published.get(key).copied()
    }

    /// Raiden's figure for `key` (e.g. `settle_channel`).
    pub fn raiden(&self, key: &str) -> Option<u64> {
        self.raiden.get(key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_anchor_figures_parse() -> Result<()> {
        let anchors = Anchors::load()?;
        assert_eq!(anchors.nitro("eth_deposit_first"), Some(46_496));
        assert_eq!(anchors.nitro("happy_exit_eth_both_paid"), Some(94_341));
        assert_eq!(
            anchors.nitro("virtual_funded_dispute.challenge_virtual"),
            Some(172_692)
        );
        assert_eq!(
            anchors.nitro_published("happy_exit_eth_conclude_and_transfer_all"),
            Some(111_514)
        );
        assert_eq!(
            anchors.nitro("happy_exit_eth_conclude_and_transfer_all"),
            None
        );
        assert_eq!(anchors.raiden("settle_channel"), Some(108_569));
        assert_eq!(anchors.nitro("no_such_row"), None);
        assert!(anchors.nitro_source.contains("re-measured"));
        Ok(())
    }
}
