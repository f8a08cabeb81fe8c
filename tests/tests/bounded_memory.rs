//! End-to-end: memory stays bounded whatever clients send. 100,000 distinct rate-limit keys leave
//! Envoy's RSS flat once their window has passed (the counters live in a fixed table); 2,000
//! random model names add a bounded number of stat series (unknown names fold into `_other`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use tollgate_e2e::envoy::{self, Envoy};
use tollgate_e2e::fake::FakeProvider;

/// Sends `n` requests over `threads` keep-alive connections; `body(i)` and `headers(i)` make
/// request `i`. Returns the statuses.
fn send_many(
    addr: SocketAddr,
    n: usize,
    threads: usize,
    make: &(dyn Fn(usize) -> (String, Vec<(String, String)>) + Sync),
) -> Vec<u16> {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut statuses = Vec::new();
                    let mut conn: Option<BufReader<TcpStream>> = None;
                    for i in (t..n).step_by(threads) {
                        let (body, headers) = make(i);
                        let mut req = format!(
                            "POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                            body.len()
                        );
                        for (k, v) in &headers {
                            req.push_str(&format!("{k}: {v}\r\n"));
                        }
                        req.push_str("\r\n");
                        req.push_str(&body);
                        let status = loop {
                            let c = conn.get_or_insert_with(|| {
                                let s = TcpStream::connect(addr).expect("connect");
                                s.set_read_timeout(Some(Duration::from_secs(30))).ok();
                                BufReader::new(s)
                            });
                            let sent = c.get_mut().write_all(req.as_bytes()).is_ok();
                            match sent.then(|| read_response(c)).flatten() {
                                Some((status, close)) => {
                                    if close {
                                        conn = None;
                                    }
                                    break status;
                                }
                                None => conn = None, // the server closed an idle connection: retry
                            }
                        };
                        statuses.push(status);
                    }
                    statuses
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    })
}

/// Reads one response; `(status, connection closes)`.
fn read_response(r: &mut BufReader<TcpStream>) -> Option<(u16, bool)> {
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let status: u16 = line.split_whitespace().nth(1)?.parse().ok()?;
    let (mut len, mut chunked, mut close) = (0usize, false, false);
    loop {
        line.clear();
        r.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        match k.to_ascii_lowercase().as_str() {
            "content-length" => len = v.trim().parse().ok()?,
            "transfer-encoding" => chunked = v.trim().eq_ignore_ascii_case("chunked"),
            "connection" => close = v.trim().eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    if chunked {
        loop {
            line.clear();
            r.read_line(&mut line).ok()?;
            let size = usize::from_str_radix(line.trim(), 16).ok()?;
            let mut buf = vec![0; size + 2];
            r.read_exact(&mut buf).ok()?;
            if size == 0 {
                break;
            }
        }
    } else {
        let mut buf = vec![0; len];
        r.read_exact(&mut buf).ok()?;
    }
    Some((status, close))
}

/// Envoy with the router and a per-user rate limit only (`x-user` keys, this window and table).
fn per_user_limit(window_seconds: u64, max_buckets: u64) -> (FakeProvider, Envoy) {
    let fake = FakeProvider::start().expect("fake provider");
    let limit = format!(
        r#"{{"limits":[{{"name":"per-user","key":["header:x-user"],"window_seconds":{window_seconds},"total_tokens":1000000}}],"max_buckets":{max_buckets}}}"#
    );
    let mut yaml =
        envoy::with_filter_config(&envoy::shipped_config(), "tollgate.ratelimit", &limit);
    for section in ["tollgate.pii", "tollgate.usage"] {
        yaml = envoy::without_filter(&yaml, section);
    }
    let envoy = Envoy::start(&yaml, fake.addr().port(), 2);
    (fake, envoy)
}

fn chat(model: &str) -> String {
    format!(r#"{{"model":"{model}","messages":[{{"role":"user","content":"hi"}}]}}"#)
}

#[test]
fn a_hundred_thousand_distinct_keys_leave_rss_flat_after_their_window() {
    // Per-user budgets keyed on a header of any length, with a short window and a table sized for
    // the keys live in one window.
    let (_fake, envoy) = per_user_limit(1, 16_384);
    let auth = envoy::bearer("rss");
    let body = chat("echo");
    // Values of 200 bytes: a design that stored each key would grow by tens of MB here.
    let make = |i: usize| {
        let user = format!("user-{i:08}-{}", "u".repeat(186));
        (
            body.clone(),
            vec![
                ("authorization".to_owned(), auth.clone()),
                ("x-user".to_owned(), user),
            ],
        )
    };
    let warm = send_many(envoy.addr, 20_000, 4, &make);
    assert!(
        warm.iter().all(|s| *s == 200),
        "warm-up: {:?}",
        first_bad(&warm)
    );
    std::thread::sleep(Duration::from_millis(1500));
    let before = envoy.rss_kib();
    let offset = |i: usize| make(i + 20_000);
    let rest = send_many(envoy.addr, 80_000, 4, &offset);
    assert!(rest.iter().all(|s| *s == 200), "{:?}", first_bad(&rest));
    std::thread::sleep(Duration::from_millis(1500));
    let after = envoy.rss_kib();
    let grown = after.saturating_sub(before);
    eprintln!("RSS {before} KiB after 20,000 keys, {after} KiB after 100,000 (+{grown} KiB)");
    assert!(
        grown < 6 * 1024,
        "80,000 more distinct keys grew RSS by {grown} KiB"
    );
}

fn first_bad(s: &[u16]) -> Option<(usize, u16)> {
    s.iter()
        .enumerate()
        .find(|(_, s)| **s != 200)
        .map(|(i, s)| (i, *s))
}

#[test]
fn random_model_names_add_a_bounded_number_of_stat_series() {
    let fake = FakeProvider::start().expect("fake provider");
    let envoy = Envoy::start(&envoy::shipped_config(), fake.addr().port(), 2);
    let auth = envoy::bearer("app");
    let series = |envoy: &Envoy| {
        envoy
            .prometheus()
            .lines()
            .filter(|l| l.starts_with("tollgate_"))
            .count()
    };
    // Warm up every series a routed, priced request uses, then 2,000 unknown names.
    let make_known = |_: usize| {
        (
            chat("gpt-4o"),
            vec![("authorization".to_owned(), auth.clone())],
        )
    };
    assert!(send_many(envoy.addr, 20, 2, &make_known)
        .iter()
        .all(|s| *s == 200));
    let make_random = |i: usize| {
        (
            chat(&format!("gpt-x{i:05}-{:x}", i * 2_654_435_761 % 1_000_003)),
            vec![("authorization".to_owned(), auth.clone())],
        )
    };
    assert!(send_many(envoy.addr, 20, 2, &make_random)
        .iter()
        .all(|s| *s == 200));
    std::thread::sleep(Duration::from_millis(300));
    let before = series(&envoy);
    let statuses = send_many(envoy.addr, 2_000, 4, &make_random);
    assert!(
        statuses.iter().all(|s| *s == 200),
        "{:?}",
        first_bad(&statuses)
    );
    std::thread::sleep(Duration::from_millis(300));
    let after = series(&envoy);
    assert_eq!(
        after,
        before,
        "2,000 random model names added {} stat series",
        after.saturating_sub(before)
    );
    // They are counted, under `_other`.
    let other = envoy.metric("tollgate_requests_total", &[("model", "_other")]);
    assert!(other >= 2_000.0, "{other}");
}

/// The figure README quotes: RSS for 100,000 live rate-limit keys (one limit, one budget).
/// `cargo test -p tollgate-e2e --test bounded_memory -- --ignored --nocapture`
#[test]
#[ignore]
fn measure_rss_per_hundred_thousand_live_keys() {
    let (_fake, envoy) = per_user_limit(3600, 200_000);
    let auth = envoy::bearer("rss");
    let body = chat("echo");
    let make = |i: usize| {
        (
            body.clone(),
            vec![
                ("authorization".to_owned(), auth.clone()),
                ("x-user".to_owned(), format!("user-{i:08}")),
            ],
        )
    };
    let warm = send_many(envoy.addr, 1_000, 4, &|i| make(i + 10_000_000));
    assert!(warm.iter().all(|s| *s == 200));
    let before = envoy.rss_kib();
    let s = send_many(envoy.addr, 100_000, 4, &make);
    assert!(s.iter().all(|s| *s == 200), "{:?}", first_bad(&s));
    let after = envoy.rss_kib();
    eprintln!(
        "100,000 live keys: RSS {before} -> {after} KiB (+{} KiB), admitted {}",
        after.saturating_sub(before),
        envoy.metric("tollgate_ratelimit_admitted_total", &[])
    );
}
