//! The frame format on the wire (being written).
