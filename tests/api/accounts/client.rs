//! A browser-like client for the account tests: keeps the session cookie it is given, follows no redirect (the
//! tests look at each one), sends forms URL-encoded with the CSRF token read from the last page, and asks for
//! HTML.

use reqwest::{Method, StatusCode};

use crate::helpers::{Answer, TestApp};

pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    pub(crate) cookie: Option<String>,
    /// The CSRF token of the last page that had one.
    pub(crate) csrf: Option<String>,
}

/// The value of the first `name="csrf"` hidden field in a page.
pub(crate) fn csrf_of(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    Some(html[at..].split('"').next()?.to_owned())
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Browser<'a> {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { app, client, cookie: None, csrf: None }
    }

    async fn send(&mut self, method: Method, path: &str, form: Option<Vec<(&str, String)>>, headers: &[(&str, &str)]) -> Answer {
        let mut request = self.client.request(method, self.app.url(path)).header("accept", "text/html");
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", format!("tracker_session={cookie}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(form) = form {
            let body = serde_urlencoded::to_string(&form).unwrap();
            request = request.header("content-type", "application/x-www-form-urlencoded").body(body);
        }
        let response = request.send().await.expect("the server answers");
        let (status, headers) = (response.status(), response.headers().clone());
        for set in headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            if let Some(rest) = set.strip_prefix("tracker_session=") {
                let value = rest.split(';').next().unwrap_or_default();
                self.cookie = (!value.is_empty() && !set.contains("Max-Age=0")).then(|| value.to_owned());
            }
        }
        let text = response.text().await.unwrap();
        if let Some(csrf) = csrf_of(&text) {
            self.csrf = Some(csrf);
        }
        Answer { status, headers, text }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Answer {
        self.send(Method::GET, path, None, &[]).await
    }

    /// Posts a form with the CSRF token of the last page first.
    pub(crate) async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let mut form: Vec<(&str, String)> = self.csrf.clone().map(|c| ("csrf", c)).into_iter().collect();
        form.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
        self.send(Method::POST, path, Some(form), &[]).await
    }

    /// Posts a form without any CSRF token, as a forged form from another site would.
    pub(crate) async fn post_without_csrf(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let form = fields.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        self.send(Method::POST, path, Some(form), &[]).await
    }

    /// Sends JSON to the API riding on the session cookie, with the given extra headers.
    pub(crate) async fn json(&mut self, method: Method, path: &str, body: &serde_json::Value, headers: &[(&str, &str)]) -> Answer {
        let mut request = self.client.request(method, self.app.url(path)).header("content-type", "application/json").body(body.to_string());
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", format!("tracker_session={cookie}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the server answers");
        let (status, headers) = (response.status(), response.headers().clone());
        Answer { status, headers, text: response.text().await.unwrap() }
    }

    /// Signs in with a name and password; the answer.
    pub(crate) async fn sign_in(&mut self, name: &str, password: &str) -> Answer {
        self.get("/sign-in").await;
        self.post("/sign-in", &[("name", name), ("password", password), ("next", "/account")]).await
    }

    /// Whether the session is live: `/account` answers the page rather than a redirect to sign in.
    pub(crate) async fn signed_in(&mut self) -> bool {
        let answer = self.get("/account").await;
        match answer.status {
            StatusCode::OK => true,
            StatusCode::SEE_OTHER => false,
            other => panic!("GET /account answered {other}: {}", answer.text),
        }
    }
}

/// Invites a person through the API as the admin; the invitation's path.
pub(crate) async fn invite(app: &TestApp, name: &str, role: &str, programme: Option<&str>, partner: Option<&str>) -> String {
    let body = serde_json::json!({"name": name, "display_name": format!("{name} Rossi"), "email": format!("{name}@example.org"),
        "role": role, "programme": programme, "partner": partner});
    let answer = app.post("/v1/people", Some(&app.admin), &body).await.expect(201);
    answer.json()["invitation"].as_str().unwrap().to_owned()
}

/// Invites a person and sets their password through the invitation page; their browser, signed in.
pub(crate) async fn person<'a>(app: &'a TestApp, name: &str, role: &str, programme: Option<&str>, partner: Option<&str>) -> Browser<'a> {
    let link = invite(app, name, role, programme, partner).await;
    let mut browser = Browser::new(app);
    browser.get(&link).await.expect(200);
    let answer = browser.post(&link, &[("password", PASSWORD), ("confirm", PASSWORD)]).await.expect(303);
    assert_eq!(answer.header("location"), Some("/account"));
    browser
}

/// A password every rule accepts.
pub(crate) const PASSWORD: &str = "river stone lantern 42";
