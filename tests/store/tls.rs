//! TLS to PostgreSQL, against a cluster of the test's own that serves a certificate the test issued from a CA of
//! its own (made with rcgen): each `sslmode` connects, or refuses, as libpq's does — `verify-full` checks the
//! CA and the host's name, `verify-ca` the CA only, `require` encrypts without checking, `prefer` encrypts when
//! offered, `disable` never — and every session of the log (writer, listener, readers) is encrypted when TLS is
//! asked for, as the server's own `pg_stat_ssl` shows. A server without TLS refuses `require` with a clear error.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use serde_json::json;
use tracker::store::{EventLog, ExpectedVersion, PgLog, PgLogOptions};

use crate::conformance::{event, request};
use crate::pg_cluster::{fresh_database, superuser, OwnCluster};

/// A CA's certificate (PEM), and a server certificate and key it issued for `localhost`.
struct Pki {
    ca: String,
    server: String,
    server_key: String,
}

fn ca_and_server(ca_name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, ca_name);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "localhost");
    let server = params.signed_by(&server_key, &Issuer::new(ca_params, ca_key)).unwrap();
    Pki { ca: ca.pem(), server: server.pem(), server_key: server_key.serialize_pem() }
}

/// Opens the log at `url` under the application name `name`, appends one event and answers how many of the
/// log's sessions the server counts as encrypted, of how many; the opening's error otherwise.
async fn sessions_over(cluster: &OwnCluster, url: &str, name: &str) -> Result<(i64, i64), String> {
    let url = format!("{url}&application_name={name}");
    let log = PgLog::open(&url, PgLogOptions::default()).await.map_err(|e| e.to_string())?;
    log.append(request(&format!("a-{name}"), ExpectedVersion::NoStream, vec![event(json!({"over": name}))])).await.unwrap();
    log.read_all(1, 10).await.unwrap();
    let admin = superuser(&cluster.url("postgres")).await;
    let row = admin
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
             WHERE a.application_name = $1",
            &[&name],
        )
        .await
        .unwrap();
    log.close().await;
    Ok((row.get(0), row.get(1)))
}

fn write(dir: &Path, name: &str, contents: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sslmode_connects_or_refuses_as_libpq_does_and_every_session_is_encrypted() {
    let pki = ca_and_server("tracker test CA");
    let (certificate, key) = (pki.server.clone(), pki.server_key.clone());
    let cluster = tokio::task::spawn_blocking(move || OwnCluster::start_with_tls(&certificate, &key)).await.unwrap();
    let files = tempfile::tempdir().unwrap();
    let ca = write(files.path(), "ca.pem", &pki.ca);
    let stranger = write(files.path(), "stranger.pem", &ca_and_server("another CA").ca);
    let by_name = format!("postgres://postgres@localhost:{}/postgres", cluster.port);
    let by_address = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port);

    let all_encrypted = |answer: Result<(i64, i64), String>, what: &str| {
        let (encrypted, sessions) = answer.unwrap_or_else(|error| panic!("{what}: {error}"));
        assert!(sessions >= 2 && encrypted == sessions, "{what}: {encrypted} of {sessions} sessions encrypted");
    };
    let full = format!("{by_name}?sslmode=verify-full&sslrootcert={ca}");
    all_encrypted(sessions_over(&cluster, &full, "full").await, "verify-full by the certificate's name");
    let ca_only = format!("{by_address}?sslmode=verify-ca&sslrootcert={ca}");
    all_encrypted(sessions_over(&cluster, &ca_only, "ca").await, "verify-ca by an address the certificate does not name");
    all_encrypted(sessions_over(&cluster, &format!("{by_address}?sslmode=require"), "require").await, "require, unchecked");
    all_encrypted(sessions_over(&cluster, &format!("{by_address}?connect_timeout=10"), "prefer").await, "prefer (the default)");
    let plain = sessions_over(&cluster, &format!("{by_address}?sslmode=disable"), "plain").await.unwrap();
    assert_eq!(plain.0, 0, "disable: no session encrypted; {plain:?}");
    // A Unix socket has no TLS: `prefer`, the default, goes on without it.
    let socket = format!("postgres://postgres@%2F{}:{}/postgres?connect_timeout=10", cluster.socket_dir().display().to_string().trim_start_matches('/').replace('/', "%2F"), cluster.port);
    let over_socket = sessions_over(&cluster, &socket, "socket").await.unwrap_or_else(|e| panic!("{socket}: {e}"));
    assert!(over_socket.0 == 0 && over_socket.1 >= 2, "prefer over a Unix socket: {over_socket:?}");

    // The refusals: a name the certificate does not hold, a CA that did not issue it.
    let wrong_name = sessions_over(&cluster, &format!("{by_address}?sslmode=verify-full&sslrootcert={ca}"), "wrong-name").await;
    let error = wrong_name.expect_err("verify-full refuses a certificate for another name");
    assert!(error.contains("connecting to PostgreSQL") && error.contains("certificate"), "{error}");
    eprintln!("verify-full by an address the certificate does not name: {error}");
    let other_ca = sessions_over(&cluster, &format!("{by_name}?sslmode=verify-full&sslrootcert={stranger}"), "stranger").await;
    let error = other_ca.expect_err("verify-full refuses a certificate another CA issued");
    assert!(error.contains("certificate"), "{error}");
    eprintln!("verify-full with another CA: {error}");
    let other_ca = sessions_over(&cluster, &format!("{by_address}?sslmode=verify-ca&sslrootcert={stranger}"), "stranger-ca").await;
    assert!(other_ca.expect_err("verify-ca checks the CA").contains("certificate"));
    drop(cluster);
}

#[tokio::test]
async fn require_is_refused_clearly_by_a_server_without_tls() {
    let url = fresh_database().await;
    let refused = PgLog::open(&format!("{url}?sslmode=require"), PgLogOptions::default()).await.unwrap_err().to_string();
    assert!(refused.contains("connecting to PostgreSQL") && refused.contains("TLS"), "{refused}");
    eprintln!("require without TLS: {refused}");
    let refused = PgLog::open(&format!("{url}?sslmode=verify-full"), PgLogOptions::default()).await.unwrap_err().to_string();
    assert!(refused.starts_with("TLS to PostgreSQL: sslmode=verify-full needs sslrootcert=FILE"), "{refused}");
}
