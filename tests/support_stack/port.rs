//! Free loopback ports for servers a test starts: one picker for every test crate (the stack,
//! AS and echo helpers include this file), so no test picks a port with `bind(0)`-then-release.

use std::net::TcpListener;

/// Ports this test process has handed out.
static GIVEN: std::sync::Mutex<std::collections::BTreeSet<u16>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// A port in 20000..32000 that nothing listens on (checked by binding it) and that no test of
/// this process got before. Below the kernel's ephemeral range (32768–60999 by default), so a
/// port released between this check and the server's bind (or between stopping a server and
/// starting it again on the same port) is not handed to another test's `bind(0)` or used as the
/// source port of an outgoing connection meanwhile (see `Ports::free`).
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let port = 20_000 + u16::try_from(random % 12_000).unwrap();
        if given.contains(&port) || TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        given.insert(port);
        return port;
    }
}
