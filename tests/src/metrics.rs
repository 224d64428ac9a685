//! An agent's Prometheus endpoint, read from inside the server namespace, where it listens.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Duration,
};

use crate::netns::in_netns;

/// The body of `GET /metrics` on `listen` in the namespace `ns`.
pub fn scrape(ns: &str, listen: &str) -> String {
    get(ns, listen).1
}

/// `GET /metrics` on `listen` in the namespace `ns`: the status line with the headers, and the
/// body.
pub fn get(ns: &str, listen: &str) -> (String, String) {
    let listen = listen.to_string();
    in_netns(ns, move || {
        let mut stream = TcpStream::connect(&listen).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let (head, body) = reply
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of headers in {reply:?}"));
        (head.to_string(), body.to_string())
    })
    .unwrap()
}

/// The value of the sample written exactly `series` (`name{labels}`) in `body`.
pub fn sample(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{body}"))
        .parse()
        .unwrap()
}
