//! The PROXY protocol (HAProxy's proxy-protocol.txt, versions 1 and 2): a
//! load balancer in front of the server says, in a header before anything
//! else on the connection, whom it is passing on, so that the real client's
//! address is the one used for everything (caps, login delays, logs, the
//! bounce check, the passive connection's peer check). Only connections
//! from the balancers named with `--proxy-from` are read this way, and from
//! them the header is required; anyone else's `PROXY` line is just an
//! unknown FTP command, never trusted. Pure: it reads from any `Read`.

use std::fmt;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Version 2's first twelve bytes.
const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// Version 1's longest line, CRLF included (§2.1).
const V1_MAX: usize = 107;

/// What a header says of the connection it starts.
#[derive(Debug, PartialEq, Eq)]
pub enum Origin {
    /// A proxied client: its address, and the one it reached.
    Client {
        source: SocketAddr,
        dest: SocketAddr,
    },
    /// The balancer speaking for itself (v2 LOCAL, a health check), or an
    /// address family the protocol leaves to the connection (v1 UNKNOWN,
    /// v2 UNSPEC or UNIX): the connection's own addresses stand.
    Own,
}

/// Why a header was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Bad {
    /// Neither version's signature.
    NotAHeader,
    Malformed(&'static str),
    /// The connection ended, failed or timed out inside the header.
    Cut(io::ErrorKind),
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Bad::NotAHeader => write!(f, "no PROXY protocol header"),
            Bad::Malformed(why) => write!(f, "a malformed PROXY protocol header: {why}"),
            Bad::Cut(kind) => write!(f, "the PROXY protocol header was cut short ({kind})"),
        }
    }
}

fn fill(input: &mut impl Read, buf: &mut [u8]) -> Result<(), Bad> {
    input.read_exact(buf).map_err(|e| Bad::Cut(e.kind()))
}

/// Reads one header, and not a byte past it, from `input`.
pub fn read_header(input: &mut impl Read) -> Result<Origin, Bad> {
    let mut start = [0u8; 12];
    fill(input, &mut start[..6])?;
    if &start[..6] == b"PROXY " {
        return read_v1(input);
    }
    if start[..6] != SIGNATURE[..6] {
        return Err(Bad::NotAHeader);
    }
    fill(input, &mut start[6..])?;
    if start != SIGNATURE {
        return Err(Bad::NotAHeader);
    }
    read_v2(input)
}

/// The rest of a version 1 line, after `PROXY `: read a byte at a time up
/// to its CRLF, no further than the longest line allowed.
fn read_v1(input: &mut impl Read) -> Result<Origin, Bad> {
    let mut line = Vec::with_capacity(V1_MAX);
    let mut byte = [0u8];
    loop {
        fill(input, &mut byte)?;
        line.push(byte[0]);
        if line.ends_with(b"\r\n") {
            break;
        }
        if line.len() + 6 >= V1_MAX {
            return Err(Bad::Malformed("a version 1 line longer than 107 bytes"));
        }
    }
    line.truncate(line.len() - 2);
    let text = std::str::from_utf8(&line).map_err(|_| Bad::Malformed("not ASCII"))?;
    parse_v1(text)
}

/// `TCP4 SRC DST SPORT DPORT`, `TCP6 ...` or `UNKNOWN[ anything]`.
fn parse_v1(text: &str) -> Result<Origin, Bad> {
    if text == "UNKNOWN" || text.starts_with("UNKNOWN ") {
        return Ok(Origin::Own);
    }
    let words: Vec<&str> = text.split(' ').collect();
    let [family, source, dest, sport, dport] = words[..] else {
        return Err(Bad::Malformed("a version 1 line needs five fields"));
    };
    let ip = |word: &str| -> Result<IpAddr, Bad> {
        match family {
            "TCP4" => word.parse::<Ipv4Addr>().map(IpAddr::V4),
            "TCP6" => word.parse::<Ipv6Addr>().map(IpAddr::V6),
            _ => return Err(Bad::Malformed("a version 1 family other than TCP4, TCP6")),
        }
        .map_err(|_| Bad::Malformed("an address not of its family"))
    };
    let port = |word: &str| -> Result<u16, Bad> {
        let plain = !word.is_empty()
            && word.bytes().all(|b| b.is_ascii_digit())
            && (word == "0" || !word.starts_with('0'));
        match plain {
            true => word
                .parse()
                .map_err(|_| Bad::Malformed("a port past 65535")),
            false => Err(Bad::Malformed("a port not in plain decimal")),
        }
    };
    Ok(Origin::Client {
        source: SocketAddr::new(ip(source)?, port(sport)?),
        dest: SocketAddr::new(ip(dest)?, port(dport)?),
    })
}

/// The rest of a version 2 header, after its signature: version and
/// command, family and transport, length, then that many bytes (addresses,
/// then type-length-value fields, which are skipped).
fn read_v2(input: &mut impl Read) -> Result<Origin, Bad> {
    let mut head = [0u8; 4];
    fill(input, &mut head)?;
    let [version_command, family, high, low] = head;
    if version_command >> 4 != 2 {
        return Err(Bad::Malformed("a version other than 2"));
    }
    let len = usize::from(u16::from_be_bytes([high, low]));
    let mut rest = vec![0u8; len];
    fill(input, &mut rest)?;
    match version_command & 0x0f {
        0 => return Ok(Origin::Own),
        1 => {}
        _ => return Err(Bad::Malformed("a command other than LOCAL or PROXY")),
    }
    let port = |at: usize| u16::from_be_bytes([rest[at], rest[at + 1]]);
    match family {
        // TCP over IPv4: 4 + 4 + 2 + 2 bytes.
        0x11 if len >= 12 => {
            let ip = |at: usize| Ipv4Addr::from(<[u8; 4]>::try_from(&rest[at..at + 4]).unwrap());
            Ok(Origin::Client {
                source: SocketAddr::new(ip(0).into(), port(8)),
                dest: SocketAddr::new(ip(4).into(), port(10)),
            })
        }
        // TCP over IPv6: 16 + 16 + 2 + 2 bytes.
        0x21 if len >= 36 => {
            let ip = |at: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&rest[at..at + 16]).unwrap());
            Ok(Origin::Client {
                source: SocketAddr::new(ip(0).into(), port(32)),
                dest: SocketAddr::new(ip(16).into(), port(34)),
            })
        }
        0x11 | 0x21 => Err(Bad::Malformed("addresses longer than the header")),
        // UNSPEC, UNIX: the connection's own addresses (§2.2).
        0x00 | 0x31 | 0x32 => Ok(Origin::Own),
        _ => Err(Bad::Malformed(
            "a family or transport the server cannot use",
        )),
    }
}

/// The balancers allowed to send a header: address blocks (`10.0.0.0/8`,
/// `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nets(Vec<(IpAddr, u8)>);

impl Nets {
    /// `CIDR[,CIDR...]`.
    pub fn parse(text: &str) -> Result<Nets, String> {
        let bad = |item: &str| format!("--proxy-from needs address blocks like 10.0.0.0/8: {item}");
        let mut nets = Vec::new();
        for item in text.split(',') {
            let (ip, bits) = match item.split_once('/') {
                Some((ip, bits)) => (ip, Some(bits)),
                None => (item, None),
            };
            let ip: IpAddr = ip.parse().map_err(|_| bad(item))?;
            let most = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                None => most,
                Some(b) => b
                    .parse()
                    .ok()
                    .filter(|b| *b <= most)
                    .ok_or_else(|| bad(item))?,
            };
            nets.push((ip, bits));
        }
        Ok(Nets(nets))
    }

    /// Whether `ip` is inside one of the blocks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|&(net, bits)| match (net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                same_prefix(n.to_bits().into(), a.to_bits().into(), bits, 32)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => same_prefix(n.to_bits(), a.to_bits(), bits, 128),
            _ => false,
        })
    }
}

/// Whether the first `bits` of two `width`-bit numbers agree.
fn same_prefix(a: u128, b: u128, bits: u8, width: u32) -> bool {
    let shift = width - u32::from(bits);
    shift >= width || (a ^ b) >> shift == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> (Result<Origin, Bad>, usize) {
        let mut input = bytes;
        let got = read_header(&mut input);
        (got, bytes.len() - input.len())
    }

    fn client(source: &str, dest: &str) -> Result<Origin, Bad> {
        Ok(Origin::Client {
            source: source.parse().unwrap(),
            dest: dest.parse().unwrap(),
        })
    }

    fn v2(command: u8, family: u8, body: &[u8]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend([0x20 | command, family]);
        out.extend((body.len() as u16).to_be_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn version_1_lines_as_the_specification_shows_them() {
        // §2.1's examples, and the longest lines of each family.
        let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nUSER x\r\n";
        assert_eq!(
            read(line),
            (client("192.168.0.1:56324", "192.168.0.11:443"), 47)
        );
        let line = b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n";
        assert_eq!(read(line).1, 56);
        let six = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n";
        assert_eq!(six.len(), 104);
        let max = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
        assert_eq!(
            read(six.as_bytes()).0,
            client(&format!("[{max}]:65535"), &format!("[{max}]:65535"))
        );
        assert_eq!(read(b"PROXY UNKNOWN\r\n"), (Ok(Origin::Own), 15));
        let unknown = format!("PROXY UNKNOWN {}\r\n", "x".repeat(91));
        assert_eq!(unknown.len(), 107);
        assert_eq!(read(unknown.as_bytes()).0, Ok(Origin::Own));
    }

    #[test]
    fn version_1_refuses_what_the_specification_does_not_allow() {
        let too_long = format!("PROXY UNKNOWN {}\r\n", "x".repeat(92));
        for line in [
            too_long.as_str(),
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
            "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
            "PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
            "PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
            "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
            "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        ] {
            assert!(read(line.as_bytes()).0.is_err(), "{line:?}");
        }
        // No more read than the longest line, whatever follows.
        let endless = vec![b'9'; 10_000];
        let mut input = [b"PROXY TCP4 ".as_slice(), &endless].concat();
        assert!(read(&input).1 <= V1_MAX);
        input.truncate(20);
        assert_eq!(read(&input).0, Err(Bad::Cut(io::ErrorKind::UnexpectedEof)));
        assert_eq!(read(b"USER anonymous\r\n").0, Err(Bad::NotAHeader));
        assert_eq!(read(b"PROX").0, Err(Bad::Cut(io::ErrorKind::UnexpectedEof)));
    }

    #[test]
    fn version_2_headers_of_every_family_and_length() {
        let four = [[10, 0, 0, 1], [10, 0, 0, 2]].concat();
        let mut body = four.clone();
        body.extend([0x1f, 0x90, 0x00, 0x15]);
        let header = v2(1, 0x11, &body);
        let mut bytes = header.clone();
        bytes.extend(b"USER x\r\n");
        assert_eq!(read(&bytes), (client("10.0.0.1:8080", "10.0.0.2:21"), 28));
        // TLVs after the addresses are skipped, whatever their length.
        for extra in [1usize, 3, 200, 60_000] {
            let mut long = body.clone();
            long.extend(vec![0xEE; extra]);
            let h = v2(1, 0x11, &long);
            assert_eq!(read(&h), (client("10.0.0.1:8080", "10.0.0.2:21"), h.len()));
        }
        let mut six = Vec::new();
        six.extend(Ipv6Addr::LOCALHOST.octets());
        six.extend("2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        six.extend([0, 80, 0, 21]);
        assert_eq!(
            read(&v2(1, 0x21, &six)).0,
            client("[::1]:80", "[2001:db8::7]:21")
        );
        // LOCAL (a health check), UNSPEC and UNIX: the connection's own.
        assert_eq!(read(&v2(0, 0x00, &[])), (Ok(Origin::Own), 16));
        assert_eq!(read(&v2(0, 0x11, &body)).0, Ok(Origin::Own));
        assert_eq!(read(&v2(1, 0x00, &[])).0, Ok(Origin::Own));
        assert_eq!(read(&v2(1, 0x31, &[0; 216])).0, Ok(Origin::Own));
        // Refused: short addresses, UDP, other commands and versions, cuts.
        assert!(read(&v2(1, 0x11, &body[..11])).0.is_err());
        assert!(read(&v2(1, 0x21, &six[..35])).0.is_err());
        assert!(read(&v2(1, 0x12, &body)).0.is_err());
        assert!(read(&v2(2, 0x11, &body)).0.is_err());
        let mut v3 = header.clone();
        v3[12] = 0x31;
        assert!(read(&v3).0.is_err());
        for cut in [3, 8, 12, 14, 15, 20, header.len() - 1] {
            let got = read(&header[..cut]).0;
            assert_eq!(got, Err(Bad::Cut(io::ErrorKind::UnexpectedEof)), "{cut}");
        }
        let mut wrong = header.clone();
        wrong[9] = b'X';
        assert_eq!(read(&wrong).0, Err(Bad::NotAHeader));
    }

    #[test]
    fn balancers_are_named_by_address_block() {
        let nets = Nets::parse("10.0.0.0/8,192.0.2.7,2001:db8::/32").unwrap();
        for (ip, inside) in [
            ("10.1.2.3", true),
            ("11.0.0.1", false),
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("::ffff:10.9.9.9", true),
            ("2001:db8:1::1", true),
            ("2001:db9::1", false),
        ] {
            assert_eq!(nets.contains(ip.parse().unwrap()), inside, "{ip}");
        }
        assert!(Nets::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "::/129", "ten", "10.0.0.0/", ""] {
            assert!(Nets::parse(bad).is_err(), "{bad}");
        }
    }
}
