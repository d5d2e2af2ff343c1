//! Virtual-channel benchmarks (being written).

fn main() {}
