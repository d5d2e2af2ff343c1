//! What strangers may hold: incoming connections and handshakes counted in total and per remote IP address, the
//! verdict on each connection attempt (admit, ask for address validation, refuse), and the rate limit of warnings.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{TransportConfig, lock};

/// The key remote addresses are counted under: the IPv4 address, or the IPv6 /64 (one host usually holds a whole
/// /64, so counting single IPv6 addresses would bound nothing). IPv4-mapped IPv6 addresses count as IPv4.
pub(super) fn ip_key(addr: SocketAddr) -> IpAddr {
    match addr.ip() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The caps (from [`TransportConfig`]).
#[derive(Debug, Clone, Copy)]
struct Caps {
    connections: usize,
    connections_per_ip: usize,
    handshakes: usize,
    handshakes_per_ip: usize,
    validate_above: usize,
}

/// Connections and handshakes held.
#[derive(Debug, Default, Clone, Copy)]
struct Count {
    connections: usize,
    handshakes: usize,
}

#[derive(Debug, Default)]
struct State {
    total: Count,
    /// Counted only once the address is proven (validated by a Retry, or the QUIC handshake completed): a spoofed
    /// address holds nothing under the IP it names.
    per_ip: HashMap<IpAddr, Count>,
}

/// The incoming connections held, in total and per IP address.
#[derive(Debug)]
pub(super) struct Admission {
    caps: Caps,
    state: Mutex<State>,
}

/// Which cap refused a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Full {
    /// `max_connections` or `max_connections_per_ip`.
    Connections,
    /// `max_handshakes` or `max_handshakes_per_ip`.
    Handshakes,
}

/// The verdict on a connection attempt.
#[derive(Debug)]
pub(super) enum Verdict {
    /// Taken: the slot is held until dropped.
    Admit(Slot),
    /// Ask the remote to prove its address first (a QUIC Retry).
    Validate,
    /// Refused, and why.
    Refuse(Full, &'static str),
}

impl Admission {
    pub fn new(config: &TransportConfig) -> Self {
        Self {
            caps: Caps {
                connections: config.max_connections,
                connections_per_ip: config.max_connections_per_ip,
                handshakes: config.max_handshakes,
                handshakes_per_ip: config.max_handshakes_per_ip,
                validate_above: config.validate_above,
            },
            state: Mutex::new(State::default()),
        }
    }

    /// Incoming connections held and, of those, the ones in their handshake.
    pub fn load(&self) -> (usize, usize) {
        let state = lock(&self.state);
        (state.total.connections, state.total.handshakes)
    }

    /// The verdict on an attempt from `remote`. An address not validated is never refused (the refusal would go to
    /// whoever it names): it is asked to validate once handshakes are many or a cap is reached, and counted under
    /// its IP only once proven ([`Slot::proven`]).
    pub fn admit(self: &Arc<Self>, remote: SocketAddr, validated: bool) -> Verdict {
        let ip = ip_key(remote);
        let caps = self.caps;
        let mut state = lock(&self.state);
        let total = state.total;
        let at_total_cap = if total.connections >= caps.connections {
            Some(Full::Connections)
        } else if total.handshakes >= caps.handshakes {
            Some(Full::Handshakes)
        } else {
            None
        };
        if !validated {
            if total.handshakes >= caps.validate_above || at_total_cap.is_some() {
                return Verdict::Validate;
            }
        } else {
            let here = state.per_ip.get(&ip).copied().unwrap_or_default();
            if let Some(full) = self.ip_full(here) {
                return Verdict::Refuse(full, ip_reason(full));
            }
            if let Some(full) = at_total_cap {
                return Verdict::Refuse(full, total_reason(full));
            }
        }
        state.total.connections += 1;
        state.total.handshakes += 1;
        if validated {
            let here = state.per_ip.entry(ip).or_default();
            here.connections += 1;
            here.handshakes += 1;
        }
        Verdict::Admit(Slot {
            admission: self.clone(),
            ip,
            per_ip: validated,
            handshaking: true,
        })
    }

    fn ip_full(&self, here: Count) -> Option<Full> {
        if here.connections >= self.caps.connections_per_ip {
            Some(Full::Connections)
        } else if here.handshakes >= self.caps.handshakes_per_ip {
            Some(Full::Handshakes)
        } else {
            None
        }
    }
}

fn ip_reason(full: Full) -> &'static str {
    match full {
        Full::Connections => "too many connections from this address",
        Full::Handshakes => "too many handshakes from this address",
    }
}

fn total_reason(full: Full) -> &'static str {
    match full {
        Full::Connections => "too many connections",
        Full::Handshakes => "too many handshakes",
    }
}

/// One incoming connection's place in the counts, given back when dropped.
#[derive(Debug)]
pub(super) struct Slot {
    admission: Arc<Admission>,
    ip: IpAddr,
    /// Counted under its IP.
    per_ip: bool,
    handshaking: bool,
}

impl Slot {
    /// The QUIC handshake completed, so the remote receives at its address: counted under its IP from now on, unless
    /// that IP is at a cap (`Err`: close the connection).
    pub fn proven(&mut self) -> Result<(), (Full, &'static str)> {
        if self.per_ip {
            return Ok(());
        }
        let mut state = lock(&self.admission.state);
        let here = state.per_ip.get(&self.ip).copied().unwrap_or_default();
        if let Some(full) = self.admission.ip_full(here) {
            return Err((full, ip_reason(full)));
        }
        let here = state.per_ip.entry(self.ip).or_default();
        here.connections += 1;
        here.handshakes += usize::from(self.handshaking);
        self.per_ip = true;
        Ok(())
    }

    /// The remote proved its channel key: no longer a handshake.
    pub fn logged_in(&mut self) {
        if !self.handshaking {
            return;
        }
        self.handshaking = false;
        let mut state = lock(&self.admission.state);
        state.total.handshakes = state.total.handshakes.saturating_sub(1);
        if self.per_ip
            && let Some(here) = state.per_ip.get_mut(&self.ip)
        {
            here.handshakes = here.handshakes.saturating_sub(1);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = lock(&self.admission.state);
        state.total.connections = state.total.connections.saturating_sub(1);
        if self.handshaking {
            state.total.handshakes = state.total.handshakes.saturating_sub(1);
        }
        if self.per_ip
            && let Some(here) = state.per_ip.get_mut(&self.ip)
        {
            here.connections = here.connections.saturating_sub(1);
            if self.handshaking {
                here.handshakes = here.handshakes.saturating_sub(1);
            }
            if here.connections == 0 {
                state.per_ip.remove(&self.ip);
            }
        }
    }
}

/// At most `per_sec` log lines a second; the others are counted.
#[derive(Debug)]
pub(super) struct LogLimit {
    per_sec: u32,
    /// The current second's start and the lines logged in it.
    window: Mutex<(Instant, u32)>,
    /// Lines not logged since the last one logged.
    pending: AtomicU64,
    /// Lines not logged since start.
    suppressed: AtomicU64,
}

impl LogLimit {
    pub fn new(per_sec: u32) -> Self {
        Self {
            per_sec,
            window: Mutex::new((Instant::now(), 0)),
            pending: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(lines suppressed since the last one logged)` if a line may be logged now; `None` (and counted) if not.
    pub fn allow(&self) -> Option<u64> {
        let mut window = lock(&self.window);
        let now = Instant::now();
        if now.duration_since(window.0) >= Duration::from_secs(1) {
            *window = (now, 0);
        }
        if window.1 < self.per_sec {
            window.1 += 1;
            Some(self.pending.swap(0, Ordering::Relaxed))
        } else {
            self.pending.fetch_add(1, Ordering::Relaxed);
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }

    /// Lines not logged since start.
    pub fn suppressed(&self) -> u64 {
        self.suppressed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    fn admission(
        per_ip: usize,
        total: usize,
        handshakes: usize,
        validate_above: usize,
    ) -> Arc<Admission> {
        Arc::new(Admission::new(&TransportConfig {
            max_connections: total,
            max_connections_per_ip: per_ip,
            max_handshakes: handshakes,
            max_handshakes_per_ip: handshakes,
            validate_above,
            ..TransportConfig::default()
        }))
    }

    fn at(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 4000)
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(
            ip_key(at("2001:db8:1:2:3:4:5:6")),
            ip_key(at("2001:db8:1:2:ff::1"))
        );
        assert_ne!(ip_key(at("2001:db8:1:2::1")), ip_key(at("2001:db8:1:3::1")));
        assert_eq!(ip_key(at("::ffff:192.0.2.7")), ip_key(at("192.0.2.7")));
    }

    #[test]
    fn caps_per_ip_and_in_total_and_slots_come_back() {
        let adm = admission(2, 3, 10, 10);
        let mut held = Vec::new();
        for _ in 0..2 {
            match adm.admit(at("192.0.2.1"), true) {
                Verdict::Admit(slot) => held.push(slot),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            adm.admit(at("192.0.2.1"), true),
            Verdict::Refuse(Full::Connections, _)
        ));
        match adm.admit(at("192.0.2.2"), true) {
            Verdict::Admit(mut slot) => {
                slot.logged_in();
                held.push(slot)
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(adm.load(), (3, 2));
        assert!(matches!(
            adm.admit(at("192.0.2.3"), true),
            Verdict::Refuse(Full::Connections, "too many connections")
        ));
        // Not validated: asked to validate rather than refused.
        assert!(matches!(
            adm.admit(at("192.0.2.3"), false),
            Verdict::Validate
        ));
        held.clear();
        assert_eq!(adm.load(), (0, 0));
        assert!(lock(&adm.state).per_ip.is_empty());
    }

    #[test]
    fn unvalidated_attempts_validate_when_handshakes_are_many_and_count_per_ip_once_proven() {
        let adm = admission(1, 10, 10, 2);
        let mut a = match adm.admit(at("192.0.2.1"), false) {
            Verdict::Admit(slot) => slot,
            other => panic!("{other:?}"),
        };
        let mut b = match adm.admit(at("192.0.2.1"), false) {
            Verdict::Admit(slot) => slot,
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            adm.admit(at("192.0.2.9"), false),
            Verdict::Validate
        ));
        assert!(matches!(
            adm.admit(at("192.0.2.9"), true),
            Verdict::Admit(_)
        ));
        assert!(a.proven().is_ok());
        assert_eq!(
            b.proven(),
            Err((Full::Connections, "too many connections from this address"))
        );
    }

    #[test]
    fn the_log_limit_counts_what_it_suppresses() {
        let limit = LogLimit::new(3);
        let allowed = (0..10).filter(|_| limit.allow().is_some()).count();
        assert_eq!(allowed, 3);
        assert_eq!(limit.suppressed(), 7);
    }
}
