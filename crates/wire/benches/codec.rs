//! Criterion benchmark of the receive path (decode + context-free validation + configuration
//! checks) and the send path (encode with checksum) for VRRPv2, VRRPv3 over IPv4 and over IPv6.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion};
use vipd_wire::*;

fn bench(c: &mut Criterion) {
    let src4 = Ipv4Addr::new(192, 0, 2, 11);
    let src6: Ipv6Addr = "fe80::11".parse().unwrap();
    let v2 = Advert::v2(
        1,
        200,
        1,
        vec![Ipv4Addr::new(192, 0, 2, 1)],
        Auth::password("secret"),
    );
    let v3_4 = Advert::v3(
        5,
        200,
        100,
        Addresses::V4(vec![Ipv4Addr::new(192, 0, 2, 5)].into()),
    );
    let v3_6 = Advert::v3(
        6,
        200,
        100,
        Addresses::V6(vec!["2001:db8::6".parse().unwrap()].into()),
    );
    let cases: [(&str, &Advert, IpAddr, IpAddr); 3] = [
        ("v2", &v2, src4.into(), VRRP_GROUP_V4.into()),
        ("v3_ipv4", &v3_4, src4.into(), VRRP_GROUP_V4.into()),
        ("v3_ipv6", &v3_6, src6.into(), VRRP_GROUP_V6.into()),
    ];
    for (name, advert, src, dst) in cases {
        let expected = Expected {
            version: advert.version,
            vrid: advert.vrid,
            auth: advert.auth,
            max_adver_int: advert.max_adver_int,
        };
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let packet =
                    encode_ipv4_packet(advert, ChecksumFlavour::PseudoHeader, s, d, 255).unwrap();
                c.bench_function(&format!("decode+validate/{name}"), |b| {
                    b.iter(|| {
                        let received = decode_ipv4_packet(black_box(&packet)).unwrap();
                        check_against(&received.advert, &expected).unwrap();
                        received
                    })
                });
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let payload = encode(advert, ChecksumFlavour::PseudoHeader, src, dst).unwrap();
                c.bench_function(&format!("decode+validate/{name}"), |b| {
                    b.iter(|| {
                        let received = decode_ipv6_payload(black_box(&payload), s, d, 255).unwrap();
                        check_against(&received.advert, &expected).unwrap();
                        received
                    })
                });
            }
            _ => unreachable!("cases are single-family"),
        }
        let mut buffer = BytesMut::with_capacity(64);
        c.bench_function(&format!("encode/{name}"), |b| {
            b.iter(|| {
                buffer.clear();
                encode_into(
                    black_box(advert),
                    ChecksumFlavour::PseudoHeader,
                    src,
                    dst,
                    &mut buffer,
                )
                .unwrap();
                buffer.len()
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
