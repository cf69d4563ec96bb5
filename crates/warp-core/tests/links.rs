//! The link store: links by key, persisted atomically, followed by queries.
#![allow(clippy::unwrap_used)]

mod common;

use common::{aggregation, numeric, open, sync_options};
use warp_core::query::{GroupBy, QuerySpec};
use warp_core::storage::FaultyStorage;
use warp_core::{ErrorCode, LinkOrigin, Match, RollupSpec, Selector, SeriesKey, SeriesKind};

fn spec(metric: &str, with_linked: bool) -> QuerySpec {
    QuerySpec {
        with_linked,
        ..aggregation(Some(metric), 0, 1000, &["sum"], None, GroupBy::All)
    }
}

#[test]
fn links_are_kept_followed_and_survive_reopen() {
    let storage = FaultyStorage::new();
    let db = open(&storage, sync_options()).unwrap();
    let t = numeric(&db, "temp{room=a}");
    let p = numeric(&db, "power{room=a}");
    numeric(&db, "temp{room=b}");
    db.put_numeric(t, 1, 20.0).unwrap();
    db.put_numeric(p, 1, 300.0).unwrap();
    assert!(db
        .link(
            "power{room=a}",
            "temp{room=a}",
            "heats",
            LinkOrigin::Declared,
            None
        )
        .unwrap());
    assert!(!db
        .link(
            "temp{room=a}",
            "power{room=a}",
            "heats",
            LinkOrigin::Declared,
            None
        )
        .unwrap());
    assert!(db
        .link(
            "temp{room=a}",
            "temp{room=b}",
            "near",
            LinkOrigin::Discovered,
            Some(0.93)
        )
        .unwrap());
    assert_eq!(db.links(Some("temp{room=a}")).unwrap().len(), 2);
    assert_eq!(db.links(None).unwrap().len(), 2);

    let r = db
        .query(&QuerySpec {
            selector: Selector {
                metric: Some(Match::Equal("power".into())),
                matchers: Vec::new(),
            },
            ..spec("power", true)
        })
        .unwrap();
    assert_eq!(r.groups.len(), 1);
    assert_eq!(r.linked.len(), 1);
    assert_eq!(r.linked[0].key.as_deref(), Some(r#"temp{room="a"}"#));
    assert_eq!(r.linked[0].columns[0].1, vec![20.0]);
    let plain = db.query(&spec("power", false)).unwrap();
    assert!(plain.linked.is_empty());
    // A rollup answering the query stands for its own series only, never the linked ones
    // (whose tags its cells share).
    db.create_rollup(RollupSpec {
        name: "power_1s".into(),
        metric: "power".into(),
        id: 0,
        conditions: Vec::new(),
        every: 1,
        aggregates: vec!["sum".into()],
    })
    .unwrap();
    let routed = db.query(&spec("power", true)).unwrap();
    assert_eq!(routed.groups[0].columns[0].1, vec![300.0]);
    assert_eq!(routed.linked[0].columns[0].1, vec![20.0]);
    // A linked event series cannot answer a sum: it is left out, not an error.
    let deploys = db
        .ensure_series(
            &SeriesKey::parse("deploy{room=a}").unwrap(),
            SeriesKind::Event,
        )
        .unwrap();
    db.put_event(deploys, 1, b"v2").unwrap();
    db.link(
        "power{room=a}",
        "deploy{room=a}",
        "changes",
        LinkOrigin::Declared,
        None,
    )
    .unwrap();
    let with_events = db.query(&spec("power", true)).unwrap();
    assert_eq!(with_events.linked.len(), 1);
    let counted = db
        .query(&QuerySpec {
            aggregates: vec!["count".into()],
            ..spec("power", true)
        })
        .unwrap();
    assert_eq!(counted.linked.len(), 2);

    for (a, b, kind, code) in [
        (
            "temp{room=a}",
            "temp{room=a}",
            "x",
            ErrorCode::InvalidArgument,
        ),
        ("temp{room=a}", "nope", "x", ErrorCode::InvalidArgument),
        (
            "temp{room=a}",
            "power{room=a}",
            "",
            ErrorCode::InvalidArgument,
        ),
        (
            "temp{room=a}",
            "power{room=a}",
            "a\nb",
            ErrorCode::InvalidArgument,
        ),
        ("temp{", "power{room=a}", "x", ErrorCode::InvalidSeries),
    ] {
        let err = db.link(a, b, kind, LinkOrigin::Declared, None).unwrap_err();
        assert_eq!(err.code(), code, "{a} {b} {kind:?}");
    }
    let nan = db.link(
        "temp{room=a}",
        "power{room=a}",
        "x",
        LinkOrigin::Discovered,
        Some(f64::NAN),
    );
    assert_eq!(nan.unwrap_err().code(), ErrorCode::InvalidArgument);

    drop(db);
    let db = open(&storage.crash(), sync_options()).unwrap();
    let links = db.links(None).unwrap();
    assert_eq!(links.len(), 3);
    assert_eq!(links[1].score, Some(0.93));
    assert_eq!(db.unlink("temp{room=a}", "power{room=a}", None).unwrap(), 1);
    assert_eq!(db.unlink("temp{room=a}", "power{room=a}", None).unwrap(), 0);
    assert_eq!(db.links(None).unwrap().len(), 2);
}

#[test]
fn a_failure_at_any_step_of_a_link_leaves_the_old_links_or_the_new() {
    for n in 0.. {
        let storage = FaultyStorage::new();
        let db = open(&storage, sync_options()).unwrap();
        numeric(&db, "a");
        numeric(&db, "b");
        numeric(&db, "c");
        db.link("a", "b", "x", LinkOrigin::Declared, None).unwrap();
        storage.fail_op(storage.ops() + n);
        let outcome = db.link("a", "c", "x", LinkOrigin::Declared, None);
        drop(db);
        let reopened = open(&storage.crash(), sync_options()).unwrap();
        let links = reopened.links(None).unwrap();
        match outcome {
            Ok(_) => {
                assert_eq!(links.len(), 2, "failure at op {n}");
                break;
            }
            Err(_) => assert!(
                links.len() == 1 || links.len() == 2,
                "failure at op {n}: {links:?}"
            ),
        }
        assert!(n < 100);
    }
}
