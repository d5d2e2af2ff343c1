//! The gas report (see `gas_report`).
