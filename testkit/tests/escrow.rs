//! Issue 14's scenario: a 2-of-3 escrow (buyer, seller, arbiter) written from the docs alone,
//! as a tos-testkit test. The contract is WAT (`escrow.wat`), so no C toolchain is needed.

use tos_testkit::{Chain, file};

#[test]
fn two_of_three_escrow_releases_to_the_seller() {
    let mut chain = Chain::new();
    let parties = ["addr:buyer", "addr:seller", "addr:arbiter"];
    let code = file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/escrow.wat"));
    let escrow = chain.deploy_as("escrow", "buyer", &code, &parties);
    chain.assert_storage(&escrow, b"done", None);

    // The buyer funds it: the deposit is credited before the contract runs.
    let funded = chain.call("buyer", &escrow, 0).deposit(500).send();
    funded
        .assert_ok()
        .assert_event(&escrow, 1, &500u64.to_le_bytes());
    assert_eq!(funded.return_u64(), 500);
    chain.call("buyer", &escrow, 0).send().assert_exit(1); // no deposit

    // Only the three parties vote; a second vote of the same party counts once.
    chain.call("mallory", &escrow, 1).send().assert_exit(2);
    assert_eq!(
        chain
            .call("seller", &escrow, 1)
            .send()
            .assert_ok()
            .return_u64(),
        1
    );
    assert_eq!(
        chain
            .call("seller", &escrow, 1)
            .send()
            .assert_ok()
            .return_u64(),
        1
    );
    chain.assert_balance("seller", 0);

    // A query of the deciding vote shows the payout and commits nothing.
    let height = chain.height();
    let preview = chain.call("arbiter", &escrow, 1).query();
    let payout = [chain.account("seller").as_slice(), &500u64.to_le_bytes()].concat();
    preview.assert_ok().assert_event(&escrow, 2, &payout);
    assert_eq!(chain.height(), height);
    chain.assert_balance("seller", 0);

    // Time passes; the arbiter's vote is the second: the seller is paid.
    chain.advance(100).advance_time(3_600);
    let paid = chain.call("arbiter", &escrow, 1).send();
    paid.assert_ok().assert_event(&escrow, 2, &payout);
    paid.assert_tree(&["wasm escrow entry 1: exit 0"]);
    assert_eq!(paid.returns("u64")[0].to_string(), "u64:2");
    chain.assert_balance("seller", 500);
    chain.assert_balance(&escrow, 0);
    chain.assert_storage(&escrow, b"done", Some(&[1]));

    // Settled: no refund vote counts any more, and nothing moves.
    chain.call("buyer", &escrow, 2).send().assert_exit(4);
    chain.assert_balance("buyer", 0);
}

#[test]
fn a_refund_needs_two_votes_too() {
    let mut chain = Chain::new();
    let code = file(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/escrow.wat"));
    let escrow = chain.deploy_as(
        "escrow",
        "buyer",
        &code,
        &["addr:buyer", "addr:seller", "addr:arbiter"],
    );
    chain
        .call("buyer", &escrow, 0)
        .deposit(70)
        .send()
        .assert_ok();
    chain.call("buyer", &escrow, 2).send().assert_ok();
    chain.assert_balance("buyer", 0);
    chain.call("arbiter", &escrow, 2).send().assert_ok();
    chain.assert_balance("buyer", 70);
}
