//! "Is this my key?" (`POST /v1/keys/lookup`): one answer for every string the caller may
//! not see, audited and rate-limited per user.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::KeyWorld;

/// The problem without its request id (which differs per request).
fn without_request_id(mut problem: Value) -> Value {
    if let Some(p) = problem.as_object_mut() {
        p.remove("request_id");
    }
    problem
}

#[sqlx::test(migrator = "locksmith_core::db::MIGRATOR")]
async fn the_lookup_answers_alike_for_what_is_not_yours(pool: PgPool) {
    let world = KeyWorld::new(pool).await;
    let mine = world.key(&world.alice, json!({ "name": "mine" })).await;
    let theirs = world.key(&world.bob, json!({ "name": "theirs" })).await;
    let (status, found) = world
        .app
        .post_json(
            "/v1/keys/lookup",
            &world.alice,
            &json!({ "key": mine["key"] }),
        )
        .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["id"], mine["id"]);
    assert!(
        found.get("key").is_none(),
        "the answer never holds the secret"
    );

    let unknown = locksmith_core::keys::format::generate("pay")
        .expose()
        .to_owned();
    let mut answers = Vec::new();
    for key in [theirs["key"].clone(), json!(unknown), json!("hello, world")] {
        let problem = world
            .app
            .refused(
                reqwest::Method::POST,
                "/v1/keys/lookup",
                &world.alice,
                Some(&json!({ "key": key })),
                404,
            )
            .await;
        answers.push(without_request_id(problem));
    }
    assert_eq!(
        answers[0], answers[1],
        "another owner's key is an unknown key"
    );
    assert_eq!(answers[1], answers[2], "an unknown key is garbage");

    // Audited: four lookups by Alice, the key named only when it was found.
    let trail = world
        .app
        .get_json("/v1/audit?action=key.lookup", &world.admin)
        .await;
    let rows = trail["items"].as_array().expect("items");
    assert_eq!(rows.len(), 4, "{trail}");
    let named: Vec<&Value> = rows.iter().filter(|r| !r["target_id"].is_null()).collect();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0]["target_id"], mine["id"]);
    assert!(
        rows.iter()
            .all(|r| r["actor_id"] == world.alice_id.to_string())
    );
    let text = trail.to_string();
    assert!(
        !text.contains(mine["key"].as_str().expect("key")),
        "no secret in the trail"
    );

    // Rate-limited per user: 10 at once, then 20 a minute.
    let mut limited = None;
    for _ in 0..10 {
        let res = world
            .app
            .with(reqwest::Method::POST, "/v1/keys/lookup", &world.alice)
            .json(&json!({ "key": "nothing" }))
            .send()
            .await
            .expect("sent");
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
    }
    let limited = limited.expect("a 429 within the burst");
    assert!(limited.headers().contains_key("retry-after"));
    let (status, _) = world
        .app
        .post_json(
            "/v1/keys/lookup",
            &world.bob,
            &json!({ "key": theirs["key"] }),
        )
        .await;
    assert_eq!(status, 200, "another user's limit is their own");
}
