//! QUIC transport between Ferry nodes (being written).
