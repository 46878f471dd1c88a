//! Passwords: the rules a new one must meet — length, not the person's name or e-mail, and not guessable by
//! zxcvbn's estimate against the most common passwords, words and names — and Argon2id hashing (OWASP's parameters: 19 MiB, two passes, one
//! lane — the crate's defaults) into a PHC string that carries its own salt and parameters. Only that string is
//! stored. Checking a password against no account still does the work of one check, so that the time taken does
//! not tell whether an account exists.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// The shortest password accepted (OWASP ASVS 2.1.1 asks for at least 12 characters).
pub const MIN_CHARS: usize = 12;
/// The longest (ASVS 2.1.2 asks to allow at least 64); longer texts only cost hashing time.
pub const MAX_CHARS: usize = 128;

/// Why a new password is refused, in words for the person choosing it; `None` when it is acceptable.
pub fn refusal(password: &str, name: &str, email: &str) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Some(format!("choose a password of at least {MIN_CHARS} characters (this one has {chars}); a few unrelated words make a good one"));
    }
    if chars > MAX_CHARS {
        return Some(format!("choose a password of at most {MAX_CHARS} characters (this one has {chars})"));
    }
    let lower = password.to_lowercase();
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    if lower.contains(&name.to_lowercase()) || (local.len() >= 4 && lower.contains(&local)) {
        return Some("choose a password that does not contain your account name or e-mail address".into());
    }
    let distinct = password.chars().collect::<std::collections::BTreeSet<_>>().len();
    if distinct < 5 {
        return Some("choose a password with more different characters: it repeats too few".into());
    }
    // zxcvbn's estimate against its lists of common passwords, words and names, and the person's own: below
    // "safely unguessable" (3 of 4) is refused.
    if zxcvbn::zxcvbn(password, &[name, &local]).score() < zxcvbn::Score::Three {
        return Some("choose a password that is harder to guess: it is close to a common password, word or name; add another unrelated word".into());
    }
    None
}

/// The PHC string of `password` under a new random salt.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(password.as_bytes(), &salt).expect("Argon2id hashes any password of bounded length").to_string()
}

/// Whether `password` is the one `stored` (a PHC string) was made from. With no stored hash (no such account,
/// or one that never set a password) the same work is done against a fixed hash and the answer is no.
pub fn verify(password: &str, stored: Option<&str>) -> bool {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let decoy = DECOY.get_or_init(|| hash("a password nobody has, checked to spend the time of one"));
    let phc = stored.unwrap_or(decoy);
    let Ok(parsed) = PasswordHash::new(phc) else { return false };
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok() && stored.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only_and_carries_argon2id() {
        let stored = hash("correct horse battery");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery", Some(&stored)));
        assert!(!verify("correct horse batterY", Some(&stored)));
        assert!(!verify("correct horse battery", None));
        assert_ne!(hash("correct horse battery"), stored, "a new salt each time");
    }

    #[test]
    fn short_long_self_naming_and_repetitive_passwords_are_refused_with_the_reason() {
        assert!(refusal("short", "anna", "anna@torino.it").unwrap().contains("at least 12"));
        assert!(refusal(&"x".repeat(129), "anna", "anna@torino.it").unwrap().contains("at most 128"));
        assert!(refusal("anna-and-some-more", "anna", "a@b.it").unwrap().contains("account name"));
        assert!(refusal("my mail is rossi.anna!", "ar", "rossi.anna@torino.it").unwrap().contains("e-mail"));
        assert!(refusal("abababababababab", "anna", "a@b.it").unwrap().contains("different characters"));
        assert!(refusal("password1234", "anna", "a@b.it").unwrap().contains("harder to guess"));
        assert!(refusal("qwertyuiop123", "anna", "a@b.it").unwrap().contains("harder to guess"));
        assert_eq!(refusal("river stone lantern", "anna", "anna@torino.it"), None);
    }
}
