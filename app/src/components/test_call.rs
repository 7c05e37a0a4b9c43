//! "Test this key": a `curl` call of `/v1/verify` that answers VALID when run as shown,
//! with the key's own scopes and an address its allowlist allows, and a copy button.

use leptos::prelude::*;

use crate::components::secret::write_clipboard;
use crate::components::ui::SECONDARY;
use crate::keys::KeyRow;

/// The sample call for `key` against `base`. With `secret` (the created-key screen) the
/// key is in the call; without it (the key's page) the call reads it from
/// `$LOCKSMITH_API_KEY`. The verifier token is always read from
/// `$LOCKSMITH_VERIFIER_TOKEN`: it belongs to the calling service.
pub fn sample_call(base: &str, key: &KeyRow, secret: Option<&str>) -> String {
    let quote = |s: &str| format!("\\\"{s}\\\"");
    let key_value = secret.map_or_else(|| "$LOCKSMITH_API_KEY".to_owned(), str::to_owned);
    let mut fields = vec![format!("{}: {}", quote("key"), quote(&key_value))];
    if !key.scopes.is_empty() {
        let scopes: Vec<String> = key.scopes.iter().map(|s| quote(s)).collect();
        fields.push(format!("{}: [{}]", quote("scopes"), scopes.join(", ")));
    }
    if let Some(ip) = &key.sample_ip {
        fields.push(format!("{}: {}", quote("client_ip"), quote(ip)));
    }
    let mut lines = vec![
        "export LOCKSMITH_VERIFIER_TOKEN='…'  # your service's verifier token for this keyspace"
            .to_owned(),
    ];
    if secret.is_none() {
        lines.push(format!(
            "export LOCKSMITH_API_KEY='{}…'  # this key's secret, shown when it was created",
            key.start
        ));
    }
    lines.push(format!(
        "curl -sS {base}/v1/verify \\\n  -H \"Authorization: Bearer $LOCKSMITH_VERIFIER_TOKEN\" \\\n  -H 'Content-Type: application/json' \\\n  -d \"{{{}}}\"",
        fields.join(", ")
    ));
    lines.join("\n")
}

/// A sample call (from [`sample_call`]) with a copy button, and for owners the way to
/// send the key.
#[component]
pub fn TestCall(call: String, #[prop(optional)] for_owner: bool) -> impl IntoView {
    let copied = RwSignal::new(None::<bool>);
    let text = StoredValue::new(call.clone());
    let copy = move |_| {
        let text = text.get_value();
        leptos::task::spawn_local(async move {
            copied.set(Some(write_clipboard(&text).await));
        });
    };
    view! {
        <section class="mt-6 rounded-lg border border-slate-200 bg-white p-5 shadow-sm" aria-labelledby="test-call-title" data-testid="test-call">
            <div class="flex flex-wrap items-center justify-between gap-2">
                <h2 id="test-call-title" class="text-lg font-semibold">"Test this key"</h2>
                <button type="button" class=SECONDARY on:click=copy>"Copy the call"</button>
            </div>
            <p class="mt-1 text-sm text-slate-600">
                "Run this with your service's verifier token: it answers {\"valid\": true, \"code\": \"VALID\", …} for this key, with its scopes and an address its allowlist allows."
            </p>
            <pre class="mt-3 overflow-x-auto rounded bg-slate-900 p-3 text-xs text-slate-100" data-testid="test-call-sample">{call}</pre>
            <p class="mt-1 text-sm" role="status">
                {move || match copied.get() {
                    Some(true) => "✓ Copied to the clipboard.",
                    Some(false) => "The browser refused the clipboard: select the text and copy it by hand.",
                    None => "",
                }}
            </p>
            {for_owner.then(|| view! {
                <p class="mt-2 text-sm text-slate-700" data-testid="how-to-send">
                    "Your clients send the key to the API it belongs to (usually in an Authorization or X-API-Key header, as that API documents); the API's service checks it with the call above. The whole REST API is described in the "
                    <a href="/docs" rel="external" class="font-medium text-sky-800 underline">"API reference"</a>
                    "."
                </p>
            })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scopes: &[&str], sample_ip: Option<&str>) -> KeyRow {
        KeyRow {
            id: "k".into(),
            keyspace_id: "ks".into(),
            keyspace: "Payments".into(),
            owner_id: "o".into(),
            owner: "o@example.test".into(),
            name: "n".into(),
            start: "pay_AbCd".into(),
            status: "active".into(),
            enabled: true,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            ip_allowlist: vec![],
            sample_ip: sample_ip.map(str::to_owned),
            meta: "{}".into(),
            expires_at: None,
            own_expires_at: None,
            grace_ends_at: None,
            outside_policy: vec![],
            created_at: chrono::DateTime::UNIX_EPOCH,
            last_used_at: None,
            revoked_at: None,
            revoked_reason: None,
            rotated_from: None,
            rotated_to: None,
            quota: None,
            rate_limit: None,
            verifications_24h: 0,
        }
    }

    #[test]
    fn the_call_carries_the_keys_scopes_and_an_allowed_address() {
        let call = sample_call(
            "https://keys.example",
            &key(&["read", "write"], Some("10.0.0.1")),
            Some("pay_secret"),
        );
        assert!(call.contains("https://keys.example/v1/verify"), "{call}");
        assert!(
            call.contains(r#"-d "{\"key\": \"pay_secret\", \"scopes\": [\"read\", \"write\"], \"client_ip\": \"10.0.0.1\"}""#),
            "{call}"
        );
        assert!(!call.contains("LOCKSMITH_API_KEY"), "{call}");
        let without = sample_call("http://h", &key(&[], None), None);
        assert!(
            without.contains("export LOCKSMITH_API_KEY='pay_AbCd…'"),
            "{without}"
        );
        assert!(
            without.contains(r#"-d "{\"key\": \"$LOCKSMITH_API_KEY\"}""#),
            "{without}"
        );
    }
}
