//! Crashes, failed commits and backups: the store holds everything a node needs to resume.

use super::*;

#[test]
fn a_crash_before_sending_resumes_from_the_store_and_resends() {
    let mut p = Pair::new();
    let id = p.open();
    p.node(0).pay(id, ETH, U256::from(5), 0).unwrap();
    // The proposal was committed, then the process died before the message left.
    p.crash_restart(0);
    assert_eq!(
        p.ch(0, id).signed_up_to(),
        2,
        "the signed proposal survived"
    );
    p.pump();
    assert_eq!(p.version(1, id), 2);
    assert_eq!(p.version(0, id), 2);
    // The follower crashes after signing; the leader's resend gets the stored signature back.
    p.node(0).pay(id, ETH, U256::from(5), 0).unwrap();
    p.drain(0);
    let (_, m) = p.held.pop().unwrap();
    let a = p.addr(0);
    p.node(1).handle_message(a, m.clone(), 0).unwrap();
    p.crash_restart(1);
    p.held.clear();
    assert_eq!(p.version(1, id), 3);
    p.node(1).handle_message(a, m, 0).unwrap();
    p.pump();
    assert_eq!(p.version(0, id), 3);
}

#[test]
fn a_failed_commit_changes_nothing_and_releases_nothing() {
    let mut p = Pair::new();
    let id = p.open();
    let before = p.ch(0, id).clone();
    // Reach into the store through a crash-restart cycle: fail the next commit of the leader's store.
    let mut store = p.n[0].take().unwrap().into_store();
    store.fail_next_commit();
    p.n[0] = Some(LedgerNode::open_store(p.keys[0].clone(), ctx(), config(), store, 0).unwrap());
    p.drain(0);
    p.held.clear();
    let before_restart = p.ch(0, id).clone();
    assert_eq!(before_restart.supported(), before.supported());
    assert!(matches!(
        p.node(0).pay(id, ETH, U256::from(5), 0),
        Err(Error::Store(_))
    ));
    p.drain(0);
    assert!(p.held.is_empty(), "nothing released");
    assert_eq!(p.ch(0, id).supported(), before.supported());
    assert_eq!(p.ch(0, id).signed_up_to(), before.signed_up_to());
    // The next attempt works.
    p.node(0).pay(id, ETH, U256::from(5), 0).unwrap();
    p.pump();
    assert_eq!(p.version(1, id), 2);
}

#[test]
fn a_channel_backup_restores_a_node() {
    let mut p = Pair::new();
    let id = p.open();
    p.node(0).pay(id, ETH, U256::from(9), 0).unwrap();
    p.pump();
    let bytes = backup::export(p.node(0).store(), &id, &NAMESPACES).unwrap();
    let mut fresh = MemoryStore::new();
    assert_eq!(backup::import(&mut fresh, &bytes, &NAMESPACES).unwrap(), id);
    let restored = LedgerNode::open_store(p.keys[0].clone(), ctx(), config(), fresh, 0).unwrap();
    assert_eq!(
        restored.channel(&id).unwrap().supported(),
        p.ch(0, id).supported()
    );
}
