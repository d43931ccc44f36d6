//! A browser-like HTTP client for the console's tests: keeps cookies by hand, never
//! follows redirects, and reads the CSRF field of a page.

use super::harness::Serve;
use reqwest::Method;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

/// A browser-like client that keeps the console's cookies by hand and never follows
/// redirects, so each answer can be checked.
pub struct Console<'s> {
    serve: &'s Serve,
    client: reqwest::Client,
    pub cookies: Vec<(String, String)>,
    pub extra: Vec<(&'static str, &'static str)>,
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Answer {
    pub fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The value of the first hidden `csrf` field on the page.
    pub fn csrf(&self) -> String {
        let at = self
            .text
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field");
        let rest = &self.text[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').expect("end of value")].to_owned()
    }
}

impl<'s> Console<'s> {
    pub fn new(serve: &'s Serve) -> Self {
        Console {
            serve,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: Vec::new(),
            extra: Vec::new(),
        }
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.serve.base));
        if !self.cookies.is_empty() {
            let header: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            request = request.header("cookie", header.join("; "));
        }
        for (name, value) in &self.extra {
            request = request.header(*name, *value);
        }
        if let Some(form) = form {
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form.iter())
                .finish();
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for value in headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
        {
            let pair = value.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies.retain(|(k, _)| k != name);
                if !value.is_empty() {
                    self.cookies.push((name.to_owned(), value.to_owned()));
                }
            }
        }
        let text = response.text().await.expect("body");
        Answer {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(Method::POST, path, Some(form)).await
    }

    /// Logs in as an operator with `token`; the answer to the login post.
    pub async fn operator_login(&mut self, token: &str) -> Answer {
        let form = self.get("/console/").await;
        let csrf = form.csrf();
        self.post("/console/login", &[("csrf", &csrf), ("token", token)])
            .await
    }

    pub async fn partner_login(&mut self, key: &str, secret: &str) -> Answer {
        let form = self.get("/console/partner/").await;
        let csrf = form.csrf();
        self.post(
            "/console/partner/login",
            &[
                ("csrf", &csrf),
                ("partner_key", key),
                ("secret_key", secret),
            ],
        )
        .await
    }
}
