//! The command line: `serve`, `migrate`, `openapi`, `clients`. Output formats are a contract
//! (DESIGN.md §9): scripts parse them.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use coupler_core::secret::{generate_secret, hash_secret};
use coupler_core::{time, Client, ClientId, Store};
use serde::Serialize;

use crate::config::{self, CommandLine, Config};
use crate::server::{shutdown_signal, Server};

/// Coupler: one REST API for a person's electric vehicle and charger.
#[derive(Debug, Parser)]
#[command(
    name = "coupler",
    version,
    about,
    after_help = "Every setting, with its variable, file key and default: coupler --help",
    after_long_help = config::help(&config::all_sections())
)]
pub struct Cli {
    /// A TOML config file (`[section] key = value`); `COUPLER_*` environment variables override its
    /// keys. `--help` lists every setting.
    #[arg(long, global = true, env = "COUPLER_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API and the OCPP gateway until SIGINT or SIGTERM.
    #[command(after_help = "Every setting, with its variable, file key and default: coupler serve --help", after_long_help = config::help(&config::all_sections()))]
    Serve {
        /// Try Coupler out: a throw-away SQLite file (`[sandbox] database_url`), the simulated makers,
        /// and a demo API client whose credentials are printed. Wins over the file and environment.
        #[arg(long)]
        sandbox: bool,
    },
    /// Bring the database schema up to date, then exit.
    #[command(after_long_help = config::help(&["store", "log"]))]
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Manage API clients.
    #[command(after_long_help = config::help(&["store", "log"]))]
    Clients {
        /// What to do with clients.
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Manage logins to the console (`/console`): the people of an API client who may see its data.
    #[command(name = "console-login", after_long_help = config::help(&["store", "log"]))]
    ConsoleLogin {
        /// What to do with console logins.
        #[command(subcommand)]
        command: ConsoleLoginCommand,
    },
}

/// `coupler console-login ...`
#[derive(Debug, Subcommand)]
pub enum ConsoleLoginCommand {
    /// Make a login for one of a client's people. The password is read from standard input (one
    /// line) with `--password-stdin`; otherwise one is generated and printed once. Coupler keeps only
    /// its Argon2id hash.
    Add {
        /// The API client whose data the login sees.
        #[arg(long)]
        client: String,
        /// The e-mail address the person signs in with (unique across clients).
        #[arg(long)]
        email: String,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        /// Print `{"email": "...", "clientId": "...", "password": "..."}` on one line (`password`
        /// only when generated).
        #[arg(long)]
        json: bool,
    },
    /// List a client's logins.
    List {
        /// The API client.
        #[arg(long)]
        client: String,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Remove a login; its sessions end at once.
    Remove {
        /// The API client.
        #[arg(long)]
        client: String,
        /// The login's e-mail address.
        #[arg(long)]
        email: String,
    },
}

/// `coupler clients ...`
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Create a client; its secret is printed once and stored only as a hash.
    Create {
        /// A name for operators.
        #[arg(long)]
        name: String,
        /// Print `{"clientId": "...", "clientSecret": "..."}` on one line.
        #[arg(long)]
        json: bool,
    },
    /// List clients.
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a client: it gets no new tokens and the ones it has stop working.
    Revoke {
        /// The client id.
        id: String,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command_line = CommandLine {
        sandbox: matches!(cli.command, Command::Serve { sandbox: true }),
    };
    let config = Config::from_layers(cli.config.as_deref(), |name| std::env::var(name).ok(), command_line)?;
    match cli.command {
        Command::Serve { sandbox } => {
            crate::telemetry::init(&config.log.filter, config.log.format)?;
            serve(&config, sandbox).await
        }
        Command::Migrate => {
            crate::telemetry::init(&config.log.filter, config.log.format)?;
            let store = open_store(&config).await?;
            tracing::info!(database = store.backend(), "the database schema is up to date");
            Ok(())
        }
        Command::Openapi => {
            let spec = coupler_api::openapi()
                .to_pretty_json()
                .context("cannot render the OpenAPI document")?;
            writeln!(std::io::stdout(), "{spec}")?;
            Ok(())
        }
        Command::Clients { command } => {
            crate::telemetry::init(&config.log.filter, config.log.format)?;
            let store = open_store(&config).await?;
            clients(store.as_ref(), command).await
        }
        Command::ConsoleLogin { command } => {
            crate::telemetry::init(&config.log.filter, config.log.format)?;
            let store = open_store(&config).await?;
            console_logins(store.as_ref(), command, &mut std::io::stdin().lock()).await
        }
    }
}

async fn open_store(config: &Config) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    let url = &config.store.database_url;
    coupler_store::open(url)
        .await
        .with_context(|| format!("cannot open the database {}", coupler_store::redact_url(url)))
}

async fn serve(config: &Config, sandbox: bool) -> anyhow::Result<()> {
    let server = Server::start_with(config, sandbox).await?;
    if sandbox {
        let (id, secret) = create_client(server.state.store.as_ref(), "sandbox demo").await?;
        // The hosted pages name the app that sent a person there; the demo client gets a name that
        // says what it is (the client can change it with PUT /client/branding).
        let branding = coupler_core::branding::BrandingText {
            app_name: Some(SANDBOX_APP_NAME.to_owned()),
            ..Default::default()
        };
        server
            .state
            .store
            .put_branding(&id, &branding, server.state.now())
            .await
            .context("cannot name the sandbox demo app")?;
        let url = server.public_url.as_str().trim_end_matches('/');
        writeln!(
            std::io::stdout(),
            "\nCoupler sandbox is running at {url}\n\
             \n\
             Demo API client (created for this run):\n  \
             client id:     {id}\n  \
             client secret: {secret}\n\
             \n\
             Get a token (the first request; paste it as is):\n  \
             curl -s -u '{id}:{secret}' -d grant_type=client_credentials {url}/oauth/token\n\
             \n\
             Then, with TOKEN=<access_token>, make a simulated car and a simulated charger, and plug one into the other:\n  \
             curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{{\"brand\":\"SIM_AURORA\"}}' {url}/sandbox/vehicles\n  \
             curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{{\"ocppVersion\":\"2.0.1\"}}' {url}/sandbox/users/user-1/chargers\n  \
             curl -s -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{{\"vehicleId\":\"<car id>\",\"chargerId\":\"<charger id>\"}}' {url}/sandbox/plug\n\
             \n\
             The whole walkthrough (linking the car through the hosted page, watching it charge): docs/quickstart.md\n\
             API docs: {url}/docs\n"
        )?;
    }
    let tasks = server.tasks().clone();
    server.tasks().spawn("signal listener", async move {
        tokio::select! {
            _ = shutdown_signal() => tasks.stop(),
            _ = tasks.stopping() => {}
        }
    });
    server.wait().await
}

/// The name the sandbox's demo client shows on the hosted link and enrolment pages.
pub const SANDBOX_APP_NAME: &str = "Coupler Sandbox Demo App";

/// Creates a client and returns its id and (only copy of the) secret.
async fn create_client(store: &dyn Store, name: &str) -> anyhow::Result<(ClientId, String)> {
    let secret = generate_secret();
    let client = Client {
        id: ClientId::generate(),
        name: name.to_owned(),
        secret_hash: hash_secret(&secret),
        created_at: time::now(),
        revoked_at: None,
    };
    store.insert_client(&client).await?;
    tracing::info!(client_id = %client.id, name, "API client created");
    Ok((client.id, secret))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedClient<'a> {
    client_id: &'a str,
    client_secret: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedClient<'a> {
    client_id: &'a str,
    name: &'a str,
    created_at: String,
    revoked_at: Option<String>,
}

async fn clients(store: &dyn Store, command: ClientsCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match command {
        ClientsCommand::Create { name, json } => {
            let name = name.trim();
            anyhow::ensure!(!name.is_empty(), "--name must not be empty");
            let (id, secret) = create_client(store, name).await?;
            if json {
                let line = serde_json::to_string(&CreatedClient {
                    client_id: id.as_str(),
                    client_secret: &secret,
                })?;
                writeln!(out, "{line}")?;
            } else {
                writeln!(out, "client id:     {id}")?;
                writeln!(out, "client secret: {secret}")?;
                writeln!(out, "The secret is shown only this once; Coupler keeps only its hash.")?;
            }
        }
        ClientsCommand::List { json } => {
            let clients = store.list_clients().await?;
            let listed: Vec<ListedClient<'_>> = clients
                .iter()
                .map(|c| ListedClient {
                    client_id: c.id.as_str(),
                    name: &c.name,
                    created_at: c.created_at.to_rfc3339(),
                    revoked_at: c.revoked_at.map(|at| at.to_rfc3339()),
                })
                .collect();
            if json {
                writeln!(out, "{}", serde_json::to_string(&listed)?)?;
            } else {
                writeln!(out, "{:<36}  {:<8}  {:<25}  NAME", "CLIENT ID", "STATUS", "CREATED")?;
                for c in &listed {
                    let status = if c.revoked_at.is_some() { "revoked" } else { "active" };
                    writeln!(
                        out,
                        "{:<36}  {:<8}  {:<25}  {}",
                        c.client_id, status, c.created_at, c.name
                    )?;
                }
            }
        }
        ClientsCommand::Revoke { id } => {
            let id = ClientId::new(id);
            anyhow::ensure!(store.revoke_client(&id, time::now()).await?, "no client '{id}'");
            writeln!(out, "client {id} revoked; its tokens no longer work")?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedLogin<'a> {
    email: &'a str,
    client_id: &'a str,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
}

/// Runs `coupler console-login ...`; `input` is where `--password-stdin` reads the password.
pub async fn console_logins(
    store: &dyn Store,
    command: ConsoleLoginCommand,
    input: &mut dyn std::io::BufRead,
) -> anyhow::Result<()> {
    use coupler_core::console::{normalise_email, ConsoleLogin, ConsoleLoginId};

    let mut out = std::io::stdout().lock();
    match command {
        ConsoleLoginCommand::Add {
            client,
            email,
            password_stdin,
            json,
        } => {
            let client = ClientId::new(client);
            let found = store.get_client(&client).await?;
            anyhow::ensure!(
                found.as_ref().is_some_and(|c| c.revoked_at.is_none()),
                "no active client '{client}'"
            );
            let email = normalise_email(&email)?;
            let (password, generated) = if password_stdin {
                let mut line = String::new();
                input
                    .read_line(&mut line)
                    .context("cannot read the password from standard input")?;
                (line.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (coupler_console::auth::generate_password(), true)
            };
            let password_hash = coupler_console::auth::hash_password(&password)?;
            let login = ConsoleLogin {
                id: ConsoleLoginId::generate(),
                client_id: client.clone(),
                email: email.clone(),
                password_hash,
                created_at: time::now(),
            };
            match store.insert_console_login(&login).await {
                Err(coupler_core::StoreError::Conflict(_)) => {
                    anyhow::bail!("'{email}' has a console login already")
                }
                other => other?,
            }
            tracing::info!(client_id = %client, login_id = %login.id, "console login made");
            let shown = generated.then_some(password.as_str());
            if json {
                let line = serde_json::to_string(&ListedLogin {
                    email: &email,
                    client_id: client.as_str(),
                    created_at: login.created_at.to_rfc3339(),
                    password: shown,
                })?;
                writeln!(out, "{line}")?;
            } else {
                writeln!(out, "console login {email} made for client {client}")?;
                if let Some(password) = shown {
                    writeln!(out, "password: {password}")?;
                    writeln!(
                        out,
                        "The password is shown only this once; Coupler keeps only its hash."
                    )?;
                }
            }
        }
        ConsoleLoginCommand::List { client, json } => {
            let logins = store.list_console_logins(&ClientId::new(client)).await?;
            let listed: Vec<ListedLogin<'_>> = logins
                .iter()
                .map(|l| ListedLogin {
                    email: &l.email,
                    client_id: l.client_id.as_str(),
                    created_at: l.created_at.to_rfc3339(),
                    password: None,
                })
                .collect();
            if json {
                writeln!(out, "{}", serde_json::to_string(&listed)?)?;
            } else {
                writeln!(out, "{:<32}  EMAIL", "CREATED")?;
                for l in &listed {
                    writeln!(out, "{:<32}  {}", l.created_at, l.email)?;
                }
            }
        }
        ConsoleLoginCommand::Remove { client, email } => {
            let email = normalise_email(&email)?;
            let client = ClientId::new(client);
            anyhow::ensure!(
                store.delete_console_login(&client, &email).await?,
                "client '{client}' has no console login '{email}'"
            );
            writeln!(out, "console login {email} removed; its sessions are signed out")?;
        }
    }
    Ok(())
}
