//! Turns the configured secret sources into secret values, generating the missing ones
//! (development profile only) once into the data dir so restarts keep them.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine as _;
use rand::RngCore as _;
use secrecy::SecretString;

use crate::config::{SecretSettings, SecretSource};

/// The resolved server-side secrets.
#[derive(Debug, Clone)]
pub struct Secrets {
    /// Signs API access tokens.
    pub jwt: SecretString,
    /// Protects portal session cookies.
    pub session: SecretString,
    /// The HMAC key for stored API key digests.
    pub key_pepper: SecretString,
}

/// Resolves every secret; generated ones live in `<data_dir>/secrets/` with mode 0600.
pub fn resolve(settings: &SecretSettings, data_dir: &Path) -> std::io::Result<Secrets> {
    Ok(Secrets {
        jwt: resolve_one(&settings.jwt_secret, data_dir, "jwt_secret")?,
        session: resolve_one(&settings.session_secret, data_dir, "session_secret")?,
        key_pepper: resolve_one(&settings.key_pepper, data_dir, "key_pepper")?,
    })
}

/// Resolves every secret without generating any: a generated one missing from the data
/// dir is an error naming it. A backup must carry the installation's secrets, never new
/// ones.
pub fn resolve_existing(settings: &SecretSettings, data_dir: &Path) -> std::io::Result<Secrets> {
    let one = |source: &SecretSource, name: &str| match source {
        SecretSource::Provided(secret) => Ok(secret.clone()),
        SecretSource::Generate => stored(data_dir, name)?.ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "no {name} in {}: set LOCKSMITH_{} or the server's LOCKSMITH_DATA_DIR",
                    data_dir.join("secrets").display(),
                    name.to_uppercase()
                ),
            )
        }),
    };
    // The pepper first: the one that cannot be replaced.
    let key_pepper = one(&settings.key_pepper, "key_pepper")?;
    Ok(Secrets {
        jwt: one(&settings.jwt_secret, "jwt_secret")?,
        session: one(&settings.session_secret, "session_secret")?,
        key_pepper,
    })
}

/// The generated secret `name` stored in `data_dir`, if there is one.
pub fn stored(data_dir: &Path, name: &str) -> std::io::Result<Option<SecretString>> {
    match std::fs::read_to_string(data_dir.join("secrets").join(name)) {
        Ok(existing) if !existing.trim().is_empty() => {
            Ok(Some(SecretString::from(existing.trim().to_owned())))
        }
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn resolve_one(
    source: &SecretSource,
    data_dir: &Path,
    name: &str,
) -> std::io::Result<SecretString> {
    match source {
        SecretSource::Provided(secret) => Ok(secret.clone()),
        SecretSource::Generate => load_or_generate(data_dir, name),
    }
}

fn load_or_generate(data_dir: &Path, name: &str) -> std::io::Result<SecretString> {
    if let Some(existing) = stored(data_dir, name)? {
        return Ok(existing);
    }
    let dir = &data_dir.join("secrets");
    let path = dir.join(name);
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(value.as_bytes())?;
    file.sync_all()?;
    tracing::warn!(
        secret = name,
        path = %path.display(),
        "generated a development secret into the data dir; set LOCKSMITH_{} in production",
        name.to_uppercase()
    );
    Ok(SecretString::from(value))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn generated_secrets_are_private_and_stable_across_restarts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_generate(dir.path(), "jwt_secret").expect("generate");
        let second = load_or_generate(dir.path(), "jwt_secret").expect("reload");
        assert_eq!(first.expose_secret(), second.expose_secret());
        assert!(first.expose_secret().len() >= crate::config::MIN_SECRET_LEN);
        let mode = std::fs::metadata(dir.path().join("secrets/jwt_secret"))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let other = load_or_generate(dir.path(), "key_pepper").expect("generate");
        assert_ne!(first.expose_secret(), other.expose_secret());
    }
}
