-- A Rails application's db/structure.sql, as `rails db:structure:dump` writes it
-- (PostgreSQL 15): accounts are the tenants (uuid keys), boards, lists and
-- cards hang three and four hops below them, notes reach them equally far
-- through two nullable keys (a tie only the data breaks), comments and
-- active_storage_attachments are polymorphic, card_labels and account_users
-- are many-to-many, audits and import_rows lost their foreign keys, and
-- "ReportSnapshots" / "ReportRows" have quoted mixed-case names.
-- Rows at the end give plan's figures something to read.

SET statement_timeout = 0;
SET lock_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET client_min_messages = warning;

SET default_table_access_method = heap;

CREATE TABLE public.accounts (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name character varying NOT NULL,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);

CREATE TABLE public.users (
    id bigint NOT NULL,
    email character varying NOT NULL,
    encrypted_password character varying,
    name character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.users_id_seq OWNED BY public.users.id;

ALTER TABLE ONLY public.users ALTER COLUMN id SET DEFAULT nextval('public.users_id_seq'::regclass);

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

CREATE TABLE public.countries (
    id bigint NOT NULL,
    code character varying(2) NOT NULL,
    name character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.countries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.countries_id_seq OWNED BY public.countries.id;

ALTER TABLE ONLY public.countries ALTER COLUMN id SET DEFAULT nextval('public.countries_id_seq'::regclass);

ALTER TABLE ONLY public.countries
    ADD CONSTRAINT countries_pkey PRIMARY KEY (id);

CREATE TABLE public.currencies (
    id bigint NOT NULL,
    code character varying(3) NOT NULL,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.currencies_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.currencies_id_seq OWNED BY public.currencies.id;

ALTER TABLE ONLY public.currencies ALTER COLUMN id SET DEFAULT nextval('public.currencies_id_seq'::regclass);

ALTER TABLE ONLY public.currencies
    ADD CONSTRAINT currencies_pkey PRIMARY KEY (id);

CREATE TABLE public.plans (
    id bigint NOT NULL,
    name character varying NOT NULL,
    price_cents integer,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.plans_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.plans_id_seq OWNED BY public.plans.id;

ALTER TABLE ONLY public.plans ALTER COLUMN id SET DEFAULT nextval('public.plans_id_seq'::regclass);

ALTER TABLE ONLY public.plans
    ADD CONSTRAINT plans_pkey PRIMARY KEY (id);

CREATE TABLE public.feature_flags (
    id bigint NOT NULL,
    key character varying NOT NULL,
    enabled boolean DEFAULT false,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.feature_flags_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.feature_flags_id_seq OWNED BY public.feature_flags.id;

ALTER TABLE ONLY public.feature_flags ALTER COLUMN id SET DEFAULT nextval('public.feature_flags_id_seq'::regclass);

ALTER TABLE ONLY public.feature_flags
    ADD CONSTRAINT feature_flags_pkey PRIMARY KEY (id);

CREATE TABLE public.email_templates (
    id bigint NOT NULL,
    slug character varying NOT NULL,
    body text,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.email_templates_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.email_templates_id_seq OWNED BY public.email_templates.id;

ALTER TABLE ONLY public.email_templates ALTER COLUMN id SET DEFAULT nextval('public.email_templates_id_seq'::regclass);

ALTER TABLE ONLY public.email_templates
    ADD CONSTRAINT email_templates_pkey PRIMARY KEY (id);

CREATE TABLE public.timezones (
    id bigint NOT NULL,
    name character varying NOT NULL,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.timezones_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.timezones_id_seq OWNED BY public.timezones.id;

ALTER TABLE ONLY public.timezones ALTER COLUMN id SET DEFAULT nextval('public.timezones_id_seq'::regclass);

ALTER TABLE ONLY public.timezones
    ADD CONSTRAINT timezones_pkey PRIMARY KEY (id);

CREATE TABLE public.languages (
    id bigint NOT NULL,
    code character varying NOT NULL,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.languages_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.languages_id_seq OWNED BY public.languages.id;

ALTER TABLE ONLY public.languages ALTER COLUMN id SET DEFAULT nextval('public.languages_id_seq'::regclass);

ALTER TABLE ONLY public.languages
    ADD CONSTRAINT languages_pkey PRIMARY KEY (id);

CREATE TABLE public.oauth_applications (
    id bigint NOT NULL,
    name character varying NOT NULL,
    uid character varying NOT NULL,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.oauth_applications_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.oauth_applications_id_seq OWNED BY public.oauth_applications.id;

ALTER TABLE ONLY public.oauth_applications ALTER COLUMN id SET DEFAULT nextval('public.oauth_applications_id_seq'::regclass);

ALTER TABLE ONLY public.oauth_applications
    ADD CONSTRAINT oauth_applications_pkey PRIMARY KEY (id);

CREATE TABLE public.oauth_access_tokens (
    id bigint NOT NULL,
    application_id bigint NOT NULL,
    resource_owner_id bigint,
    token character varying NOT NULL,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.oauth_access_tokens_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.oauth_access_tokens_id_seq OWNED BY public.oauth_access_tokens.id;

ALTER TABLE ONLY public.oauth_access_tokens ALTER COLUMN id SET DEFAULT nextval('public.oauth_access_tokens_id_seq'::regclass);

ALTER TABLE ONLY public.oauth_access_tokens
    ADD CONSTRAINT oauth_access_tokens_pkey PRIMARY KEY (id);

CREATE TABLE public.active_storage_blobs (
    id bigint NOT NULL,
    key character varying NOT NULL,
    filename character varying NOT NULL,
    byte_size bigint NOT NULL,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.active_storage_blobs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.active_storage_blobs_id_seq OWNED BY public.active_storage_blobs.id;

ALTER TABLE ONLY public.active_storage_blobs ALTER COLUMN id SET DEFAULT nextval('public.active_storage_blobs_id_seq'::regclass);

ALTER TABLE ONLY public.active_storage_blobs
    ADD CONSTRAINT active_storage_blobs_pkey PRIMARY KEY (id);

CREATE TABLE public.active_storage_variant_records (
    id bigint NOT NULL,
    blob_id bigint NOT NULL,
    variation_digest character varying NOT NULL,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.active_storage_variant_records_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.active_storage_variant_records_id_seq OWNED BY public.active_storage_variant_records.id;

ALTER TABLE ONLY public.active_storage_variant_records ALTER COLUMN id SET DEFAULT nextval('public.active_storage_variant_records_id_seq'::regclass);

ALTER TABLE ONLY public.active_storage_variant_records
    ADD CONSTRAINT active_storage_variant_records_pkey PRIMARY KEY (id);

CREATE TABLE public.projects (
    id bigint NOT NULL,
    account_id uuid NOT NULL,
    name character varying NOT NULL,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.projects_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.projects_id_seq OWNED BY public.projects.id;

ALTER TABLE ONLY public.projects ALTER COLUMN id SET DEFAULT nextval('public.projects_id_seq'::regclass);

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT projects_pkey PRIMARY KEY (id);

CREATE TABLE public.labels (
    id bigint NOT NULL,
    account_id uuid NOT NULL,
    name character varying,
    color character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.labels_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.labels_id_seq OWNED BY public.labels.id;

ALTER TABLE ONLY public.labels ALTER COLUMN id SET DEFAULT nextval('public.labels_id_seq'::regclass);

ALTER TABLE ONLY public.labels
    ADD CONSTRAINT labels_pkey PRIMARY KEY (id);

CREATE TABLE public.teams (
    id bigint NOT NULL,
    account_id uuid NOT NULL,
    name character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.teams_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.teams_id_seq OWNED BY public.teams.id;

ALTER TABLE ONLY public.teams ALTER COLUMN id SET DEFAULT nextval('public.teams_id_seq'::regclass);

ALTER TABLE ONLY public.teams
    ADD CONSTRAINT teams_pkey PRIMARY KEY (id);

CREATE TABLE public.clients (
    id bigint NOT NULL,
    account_id uuid NOT NULL,
    name character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.clients_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.clients_id_seq OWNED BY public.clients.id;

ALTER TABLE ONLY public.clients ALTER COLUMN id SET DEFAULT nextval('public.clients_id_seq'::regclass);

ALTER TABLE ONLY public.clients
    ADD CONSTRAINT clients_pkey PRIMARY KEY (id);

CREATE TABLE public.webhooks (
    id bigint NOT NULL,
    account_id uuid NOT NULL,
    url character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.webhooks_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.webhooks_id_seq OWNED BY public.webhooks.id;

ALTER TABLE ONLY public.webhooks ALTER COLUMN id SET DEFAULT nextval('public.webhooks_id_seq'::regclass);

ALTER TABLE ONLY public.webhooks
    ADD CONSTRAINT webhooks_pkey PRIMARY KEY (id);

CREATE TABLE public.api_keys (
    id bigint NOT NULL,
    account_id uuid NOT NULL,
    token_digest character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.api_keys_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.api_keys_id_seq OWNED BY public.api_keys.id;

ALTER TABLE ONLY public.api_keys ALTER COLUMN id SET DEFAULT nextval('public.api_keys_id_seq'::regclass);

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);

CREATE TABLE public.invoices (
    id bigint NOT NULL,
    account_id uuid NOT NULL,
    number character varying,
    total_cents bigint,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.invoices_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.invoices_id_seq OWNED BY public.invoices.id;

ALTER TABLE ONLY public.invoices ALTER COLUMN id SET DEFAULT nextval('public.invoices_id_seq'::regclass);

ALTER TABLE ONLY public.invoices
    ADD CONSTRAINT invoices_pkey PRIMARY KEY (id);

CREATE TABLE public.tags (
    id bigint NOT NULL,
    account_id uuid NOT NULL,
    name character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.tags_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.tags_id_seq OWNED BY public.tags.id;

ALTER TABLE ONLY public.tags ALTER COLUMN id SET DEFAULT nextval('public.tags_id_seq'::regclass);

ALTER TABLE ONLY public.tags
    ADD CONSTRAINT tags_pkey PRIMARY KEY (id);

CREATE TABLE public.integrations (
    id bigint NOT NULL,
    account_id uuid NOT NULL,
    kind character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.integrations_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.integrations_id_seq OWNED BY public.integrations.id;

ALTER TABLE ONLY public.integrations ALTER COLUMN id SET DEFAULT nextval('public.integrations_id_seq'::regclass);

ALTER TABLE ONLY public.integrations
    ADD CONSTRAINT integrations_pkey PRIMARY KEY (id);

CREATE TABLE public.exports (
    id bigint NOT NULL,
    account_id uuid NOT NULL,
    format character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.exports_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.exports_id_seq OWNED BY public.exports.id;

ALTER TABLE ONLY public.exports ALTER COLUMN id SET DEFAULT nextval('public.exports_id_seq'::regclass);

ALTER TABLE ONLY public.exports
    ADD CONSTRAINT exports_pkey PRIMARY KEY (id);

CREATE TABLE public.imports (
    id bigint NOT NULL,
    account_id uuid NOT NULL,
    source character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.imports_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.imports_id_seq OWNED BY public.imports.id;

ALTER TABLE ONLY public.imports ALTER COLUMN id SET DEFAULT nextval('public.imports_id_seq'::regclass);

ALTER TABLE ONLY public.imports
    ADD CONSTRAINT imports_pkey PRIMARY KEY (id);

CREATE TABLE public.settings (
    id bigint NOT NULL,
    account_id uuid NOT NULL,
    timezone_id bigint,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.settings_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.settings_id_seq OWNED BY public.settings.id;

ALTER TABLE ONLY public.settings ALTER COLUMN id SET DEFAULT nextval('public.settings_id_seq'::regclass);

ALTER TABLE ONLY public.settings
    ADD CONSTRAINT settings_pkey PRIMARY KEY (id);

CREATE TABLE public.subscriptions (
    id bigint NOT NULL,
    account_id uuid NOT NULL,
    plan_id bigint NOT NULL,
    currency_id bigint,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.subscriptions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.subscriptions_id_seq OWNED BY public.subscriptions.id;

ALTER TABLE ONLY public.subscriptions ALTER COLUMN id SET DEFAULT nextval('public.subscriptions_id_seq'::regclass);

ALTER TABLE ONLY public.subscriptions
    ADD CONSTRAINT subscriptions_pkey PRIMARY KEY (id);

CREATE TABLE public.account_users (
    id bigint NOT NULL,
    account_id uuid NOT NULL,
    user_id bigint NOT NULL,
    role character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.account_users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.account_users_id_seq OWNED BY public.account_users.id;

ALTER TABLE ONLY public.account_users ALTER COLUMN id SET DEFAULT nextval('public.account_users_id_seq'::regclass);

ALTER TABLE ONLY public.account_users
    ADD CONSTRAINT account_users_pkey PRIMARY KEY (id);

CREATE TABLE public.audits (
    id bigint NOT NULL,
    account_id uuid,
    auditable_kind character varying,
    action character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.audits_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.audits_id_seq OWNED BY public.audits.id;

ALTER TABLE ONLY public.audits ALTER COLUMN id SET DEFAULT nextval('public.audits_id_seq'::regclass);

ALTER TABLE ONLY public.audits
    ADD CONSTRAINT audits_pkey PRIMARY KEY (id);

CREATE TABLE public.team_memberships (
    id bigint NOT NULL,
    team_id bigint NOT NULL,
    user_id bigint NOT NULL,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.team_memberships_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.team_memberships_id_seq OWNED BY public.team_memberships.id;

ALTER TABLE ONLY public.team_memberships ALTER COLUMN id SET DEFAULT nextval('public.team_memberships_id_seq'::regclass);

ALTER TABLE ONLY public.team_memberships
    ADD CONSTRAINT team_memberships_pkey PRIMARY KEY (id);

CREATE TABLE public.boards (
    id bigint NOT NULL,
    project_id bigint NOT NULL,
    name character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.boards_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.boards_id_seq OWNED BY public.boards.id;

ALTER TABLE ONLY public.boards ALTER COLUMN id SET DEFAULT nextval('public.boards_id_seq'::regclass);

ALTER TABLE ONLY public.boards
    ADD CONSTRAINT boards_pkey PRIMARY KEY (id);

CREATE TABLE public.lists (
    id bigint NOT NULL,
    board_id bigint NOT NULL,
    position integer,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.lists_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.lists_id_seq OWNED BY public.lists.id;

ALTER TABLE ONLY public.lists ALTER COLUMN id SET DEFAULT nextval('public.lists_id_seq'::regclass);

ALTER TABLE ONLY public.lists
    ADD CONSTRAINT lists_pkey PRIMARY KEY (id);

CREATE TABLE public.cards (
    id bigint NOT NULL,
    list_id bigint NOT NULL,
    title character varying,
    due_on date,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.cards_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.cards_id_seq OWNED BY public.cards.id;

ALTER TABLE ONLY public.cards ALTER COLUMN id SET DEFAULT nextval('public.cards_id_seq'::regclass);

ALTER TABLE ONLY public.cards
    ADD CONSTRAINT cards_pkey PRIMARY KEY (id);

CREATE TABLE public.checklists (
    id bigint NOT NULL,
    card_id bigint NOT NULL,
    title character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.checklists_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.checklists_id_seq OWNED BY public.checklists.id;

ALTER TABLE ONLY public.checklists ALTER COLUMN id SET DEFAULT nextval('public.checklists_id_seq'::regclass);

ALTER TABLE ONLY public.checklists
    ADD CONSTRAINT checklists_pkey PRIMARY KEY (id);

CREATE TABLE public.checklist_items (
    id bigint NOT NULL,
    checklist_id bigint NOT NULL,
    done boolean DEFAULT false NOT NULL,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.checklist_items_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.checklist_items_id_seq OWNED BY public.checklist_items.id;

ALTER TABLE ONLY public.checklist_items ALTER COLUMN id SET DEFAULT nextval('public.checklist_items_id_seq'::regclass);

ALTER TABLE ONLY public.checklist_items
    ADD CONSTRAINT checklist_items_pkey PRIMARY KEY (id);

CREATE TABLE public.card_labels (
    id bigint NOT NULL,
    card_id bigint NOT NULL,
    label_id bigint NOT NULL,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.card_labels_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.card_labels_id_seq OWNED BY public.card_labels.id;

ALTER TABLE ONLY public.card_labels ALTER COLUMN id SET DEFAULT nextval('public.card_labels_id_seq'::regclass);

ALTER TABLE ONLY public.card_labels
    ADD CONSTRAINT card_labels_pkey PRIMARY KEY (id);

CREATE TABLE public.card_assignments (
    id bigint NOT NULL,
    card_id bigint NOT NULL,
    user_id bigint NOT NULL,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.card_assignments_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.card_assignments_id_seq OWNED BY public.card_assignments.id;

ALTER TABLE ONLY public.card_assignments ALTER COLUMN id SET DEFAULT nextval('public.card_assignments_id_seq'::regclass);

ALTER TABLE ONLY public.card_assignments
    ADD CONSTRAINT card_assignments_pkey PRIMARY KEY (id);

CREATE TABLE public.sprints (
    id bigint NOT NULL,
    project_id bigint NOT NULL,
    starts_on date,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.sprints_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.sprints_id_seq OWNED BY public.sprints.id;

ALTER TABLE ONLY public.sprints ALTER COLUMN id SET DEFAULT nextval('public.sprints_id_seq'::regclass);

ALTER TABLE ONLY public.sprints
    ADD CONSTRAINT sprints_pkey PRIMARY KEY (id);

CREATE TABLE public.milestones (
    id bigint NOT NULL,
    project_id bigint NOT NULL,
    due_on date,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.milestones_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.milestones_id_seq OWNED BY public.milestones.id;

ALTER TABLE ONLY public.milestones ALTER COLUMN id SET DEFAULT nextval('public.milestones_id_seq'::regclass);

ALTER TABLE ONLY public.milestones
    ADD CONSTRAINT milestones_pkey PRIMARY KEY (id);

CREATE TABLE public.notes (
    id bigint NOT NULL,
    board_id bigint,
    sprint_id bigint,
    body text,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.notes_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.notes_id_seq OWNED BY public.notes.id;

ALTER TABLE ONLY public.notes ALTER COLUMN id SET DEFAULT nextval('public.notes_id_seq'::regclass);

ALTER TABLE ONLY public.notes
    ADD CONSTRAINT notes_pkey PRIMARY KEY (id);

CREATE TABLE public.invoice_items (
    id bigint NOT NULL,
    invoice_id bigint NOT NULL,
    amount_cents bigint,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.invoice_items_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.invoice_items_id_seq OWNED BY public.invoice_items.id;

ALTER TABLE ONLY public.invoice_items ALTER COLUMN id SET DEFAULT nextval('public.invoice_items_id_seq'::regclass);

ALTER TABLE ONLY public.invoice_items
    ADD CONSTRAINT invoice_items_pkey PRIMARY KEY (id);

CREATE TABLE public.payments (
    id bigint NOT NULL,
    invoice_id bigint NOT NULL,
    amount_cents bigint,
    currency_id bigint,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.payments_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.payments_id_seq OWNED BY public.payments.id;

ALTER TABLE ONLY public.payments ALTER COLUMN id SET DEFAULT nextval('public.payments_id_seq'::regclass);

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT payments_pkey PRIMARY KEY (id);

CREATE TABLE public.client_contacts (
    id bigint NOT NULL,
    client_id bigint NOT NULL,
    email character varying,
    country_id bigint,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.client_contacts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.client_contacts_id_seq OWNED BY public.client_contacts.id;

ALTER TABLE ONLY public.client_contacts ALTER COLUMN id SET DEFAULT nextval('public.client_contacts_id_seq'::regclass);

ALTER TABLE ONLY public.client_contacts
    ADD CONSTRAINT client_contacts_pkey PRIMARY KEY (id);

CREATE TABLE public.webhook_deliveries (
    id bigint NOT NULL,
    webhook_id bigint NOT NULL,
    status integer,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.webhook_deliveries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.webhook_deliveries_id_seq OWNED BY public.webhook_deliveries.id;

ALTER TABLE ONLY public.webhook_deliveries ALTER COLUMN id SET DEFAULT nextval('public.webhook_deliveries_id_seq'::regclass);

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id);

CREATE TABLE public.comments (
    id bigint NOT NULL,
    commentable_type character varying NOT NULL,
    commentable_id bigint NOT NULL,
    user_id bigint,
    body text,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.comments_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.comments_id_seq OWNED BY public.comments.id;

ALTER TABLE ONLY public.comments ALTER COLUMN id SET DEFAULT nextval('public.comments_id_seq'::regclass);

ALTER TABLE ONLY public.comments
    ADD CONSTRAINT comments_pkey PRIMARY KEY (id);

CREATE TABLE public.reactions (
    id bigint NOT NULL,
    comment_id bigint NOT NULL,
    user_id bigint NOT NULL,
    emoji character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.reactions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.reactions_id_seq OWNED BY public.reactions.id;

ALTER TABLE ONLY public.reactions ALTER COLUMN id SET DEFAULT nextval('public.reactions_id_seq'::regclass);

ALTER TABLE ONLY public.reactions
    ADD CONSTRAINT reactions_pkey PRIMARY KEY (id);

CREATE TABLE public.active_storage_attachments (
    id bigint NOT NULL,
    name character varying NOT NULL,
    record_type character varying NOT NULL,
    record_id bigint NOT NULL,
    blob_id bigint NOT NULL,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.active_storage_attachments_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.active_storage_attachments_id_seq OWNED BY public.active_storage_attachments.id;

ALTER TABLE ONLY public.active_storage_attachments ALTER COLUMN id SET DEFAULT nextval('public.active_storage_attachments_id_seq'::regclass);

ALTER TABLE ONLY public.active_storage_attachments
    ADD CONSTRAINT active_storage_attachments_pkey PRIMARY KEY (id);

CREATE TABLE public.time_entries (
    id bigint NOT NULL,
    card_id bigint NOT NULL,
    user_id bigint NOT NULL,
    minutes integer,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.time_entries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.time_entries_id_seq OWNED BY public.time_entries.id;

ALTER TABLE ONLY public.time_entries ALTER COLUMN id SET DEFAULT nextval('public.time_entries_id_seq'::regclass);

ALTER TABLE ONLY public.time_entries
    ADD CONSTRAINT time_entries_pkey PRIMARY KEY (id);

CREATE TABLE public.integration_logs (
    id bigint NOT NULL,
    integration_id bigint NOT NULL,
    message text,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.integration_logs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.integration_logs_id_seq OWNED BY public.integration_logs.id;

ALTER TABLE ONLY public.integration_logs ALTER COLUMN id SET DEFAULT nextval('public.integration_logs_id_seq'::regclass);

ALTER TABLE ONLY public.integration_logs
    ADD CONSTRAINT integration_logs_pkey PRIMARY KEY (id);

CREATE TABLE public.export_files (
    id bigint NOT NULL,
    export_id bigint NOT NULL,
    path character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.export_files_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.export_files_id_seq OWNED BY public.export_files.id;

ALTER TABLE ONLY public.export_files ALTER COLUMN id SET DEFAULT nextval('public.export_files_id_seq'::regclass);

ALTER TABLE ONLY public.export_files
    ADD CONSTRAINT export_files_pkey PRIMARY KEY (id);

CREATE TABLE public.import_rows (
    id bigint NOT NULL,
    import_id bigint NOT NULL,
    payload jsonb,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now(),
    updated_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.import_rows_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.import_rows_id_seq OWNED BY public.import_rows.id;

ALTER TABLE ONLY public.import_rows ALTER COLUMN id SET DEFAULT nextval('public.import_rows_id_seq'::regclass);

ALTER TABLE ONLY public.import_rows
    ADD CONSTRAINT import_rows_pkey PRIMARY KEY (id);

CREATE TABLE public.documents (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    project_id bigint NOT NULL,
    title character varying,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

ALTER TABLE ONLY public.documents
    ADD CONSTRAINT documents_pkey PRIMARY KEY (id);

CREATE TABLE public.document_versions (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    document_id uuid NOT NULL,
    body text,
    created_at timestamp(6) without time zone NOT NULL DEFAULT now()
);

ALTER TABLE ONLY public.document_versions
    ADD CONSTRAINT document_versions_pkey PRIMARY KEY (id);

CREATE TABLE public."ReportSnapshots" (
    "Id" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL,
    "accountId" uuid NOT NULL,
    "takenAt" timestamp(6) without time zone
);

ALTER TABLE ONLY public."ReportSnapshots"
    ADD CONSTRAINT "ReportSnapshots_pkey" PRIMARY KEY ("Id");

CREATE TABLE public."ReportRows" (
    "Id" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL,
    "snapshotId" bigint NOT NULL,
    "Value" numeric
);

ALTER TABLE ONLY public."ReportRows"
    ADD CONSTRAINT "ReportRows_pkey" PRIMARY KEY ("Id");

CREATE TABLE public.schema_migrations (
    version character varying NOT NULL
);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

CREATE TABLE public.ar_internal_metadata (
    key character varying NOT NULL,
    value character varying,
    created_at timestamp(6) without time zone NOT NULL,
    updated_at timestamp(6) without time zone NOT NULL
);

ALTER TABLE ONLY public.ar_internal_metadata
    ADD CONSTRAINT ar_internal_metadata_pkey PRIMARY KEY (key);

CREATE INDEX index_oauth_access_tokens_on_application_id ON public.oauth_access_tokens USING btree (application_id);
CREATE INDEX index_oauth_access_tokens_on_resource_owner_id ON public.oauth_access_tokens USING btree (resource_owner_id);
CREATE INDEX index_active_storage_variant_records_on_blob_id ON public.active_storage_variant_records USING btree (blob_id);
CREATE INDEX index_projects_on_account_id ON public.projects USING btree (account_id);
CREATE INDEX index_labels_on_account_id ON public.labels USING btree (account_id);
CREATE INDEX index_teams_on_account_id ON public.teams USING btree (account_id);
CREATE INDEX index_clients_on_account_id ON public.clients USING btree (account_id);
CREATE INDEX index_webhooks_on_account_id ON public.webhooks USING btree (account_id);
CREATE INDEX index_api_keys_on_account_id ON public.api_keys USING btree (account_id);
CREATE INDEX index_invoices_on_account_id ON public.invoices USING btree (account_id);
CREATE INDEX index_tags_on_account_id ON public.tags USING btree (account_id);
CREATE INDEX index_integrations_on_account_id ON public.integrations USING btree (account_id);
CREATE INDEX index_exports_on_account_id ON public.exports USING btree (account_id);
CREATE INDEX index_imports_on_account_id ON public.imports USING btree (account_id);
CREATE INDEX index_settings_on_account_id ON public.settings USING btree (account_id);
CREATE INDEX index_settings_on_timezone_id ON public.settings USING btree (timezone_id);
CREATE INDEX index_subscriptions_on_account_id ON public.subscriptions USING btree (account_id);
CREATE INDEX index_subscriptions_on_plan_id ON public.subscriptions USING btree (plan_id);
CREATE INDEX index_subscriptions_on_currency_id ON public.subscriptions USING btree (currency_id);
CREATE INDEX index_account_users_on_account_id ON public.account_users USING btree (account_id);
CREATE INDEX index_account_users_on_user_id ON public.account_users USING btree (user_id);
CREATE INDEX index_team_memberships_on_team_id ON public.team_memberships USING btree (team_id);
CREATE INDEX index_team_memberships_on_user_id ON public.team_memberships USING btree (user_id);
CREATE INDEX index_boards_on_project_id ON public.boards USING btree (project_id);
CREATE INDEX index_lists_on_board_id ON public.lists USING btree (board_id);
CREATE INDEX index_cards_on_list_id ON public.cards USING btree (list_id);
CREATE INDEX index_checklists_on_card_id ON public.checklists USING btree (card_id);
CREATE INDEX index_checklist_items_on_checklist_id ON public.checklist_items USING btree (checklist_id);
CREATE INDEX index_card_labels_on_card_id ON public.card_labels USING btree (card_id);
CREATE INDEX index_card_labels_on_label_id ON public.card_labels USING btree (label_id);
CREATE INDEX index_card_assignments_on_card_id ON public.card_assignments USING btree (card_id);
CREATE INDEX index_card_assignments_on_user_id ON public.card_assignments USING btree (user_id);
CREATE INDEX index_sprints_on_project_id ON public.sprints USING btree (project_id);
CREATE INDEX index_milestones_on_project_id ON public.milestones USING btree (project_id);
CREATE INDEX index_notes_on_board_id ON public.notes USING btree (board_id);
CREATE INDEX index_notes_on_sprint_id ON public.notes USING btree (sprint_id);
CREATE INDEX index_invoice_items_on_invoice_id ON public.invoice_items USING btree (invoice_id);
CREATE INDEX index_payments_on_invoice_id ON public.payments USING btree (invoice_id);
CREATE INDEX index_payments_on_currency_id ON public.payments USING btree (currency_id);
CREATE INDEX index_client_contacts_on_client_id ON public.client_contacts USING btree (client_id);
CREATE INDEX index_client_contacts_on_country_id ON public.client_contacts USING btree (country_id);
CREATE INDEX index_webhook_deliveries_on_webhook_id ON public.webhook_deliveries USING btree (webhook_id);
CREATE INDEX index_comments_on_user_id ON public.comments USING btree (user_id);
CREATE INDEX index_reactions_on_comment_id ON public.reactions USING btree (comment_id);
CREATE INDEX index_reactions_on_user_id ON public.reactions USING btree (user_id);
CREATE INDEX index_active_storage_attachments_on_blob_id ON public.active_storage_attachments USING btree (blob_id);
CREATE INDEX index_time_entries_on_card_id ON public.time_entries USING btree (card_id);
CREATE INDEX index_time_entries_on_user_id ON public.time_entries USING btree (user_id);
CREATE INDEX index_integration_logs_on_integration_id ON public.integration_logs USING btree (integration_id);
CREATE INDEX index_export_files_on_export_id ON public.export_files USING btree (export_id);
CREATE INDEX index_comments_on_commentable ON public.comments USING btree (commentable_type, commentable_id);
CREATE INDEX index_active_storage_attachments_on_record ON public.active_storage_attachments USING btree (record_type, record_id);
CREATE UNIQUE INDEX index_users_on_email ON public.users USING btree (email);
CREATE UNIQUE INDEX index_account_users_on_account_id_and_user_id ON public.account_users USING btree (account_id, user_id);
CREATE UNIQUE INDEX index_card_labels_on_card_id_and_label_id ON public.card_labels USING btree (card_id, label_id);
CREATE INDEX index_documents_on_project_id ON public.documents USING btree (project_id);

ALTER TABLE ONLY public.oauth_access_tokens
    ADD CONSTRAINT fk_rails_732cb83ab7 FOREIGN KEY (application_id) REFERENCES public.oauth_applications(id);

ALTER TABLE ONLY public.oauth_access_tokens
    ADD CONSTRAINT fk_rails_ee63f25419 FOREIGN KEY (resource_owner_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.active_storage_variant_records
    ADD CONSTRAINT fk_rails_993965df05 FOREIGN KEY (blob_id) REFERENCES public.active_storage_blobs(id);

ALTER TABLE ONLY public.projects
    ADD CONSTRAINT fk_rails_b4884d7210 FOREIGN KEY (account_id) REFERENCES public.accounts(id);

ALTER TABLE ONLY public.labels
    ADD CONSTRAINT fk_rails_c02659cdf4 FOREIGN KEY (account_id) REFERENCES public.accounts(id);

ALTER TABLE ONLY public.teams
    ADD CONSTRAINT fk_rails_b4ac0a83f9 FOREIGN KEY (account_id) REFERENCES public.accounts(id);

ALTER TABLE ONLY public.clients
    ADD CONSTRAINT fk_rails_bed59fd791 FOREIGN KEY (account_id) REFERENCES public.accounts(id);

ALTER TABLE ONLY public.webhooks
    ADD CONSTRAINT fk_rails_8f6c17001b FOREIGN KEY (account_id) REFERENCES public.accounts(id);

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT fk_rails_f4470e16d5 FOREIGN KEY (account_id) REFERENCES public.accounts(id);

ALTER TABLE ONLY public.invoices
    ADD CONSTRAINT fk_rails_afb4b1e584 FOREIGN KEY (account_id) REFERENCES public.accounts(id);

ALTER TABLE ONLY public.tags
    ADD CONSTRAINT fk_rails_86647bc40a FOREIGN KEY (account_id) REFERENCES public.accounts(id);

ALTER TABLE ONLY public.integrations
    ADD CONSTRAINT fk_rails_63f87b241e FOREIGN KEY (account_id) REFERENCES public.accounts(id);

ALTER TABLE ONLY public.exports
    ADD CONSTRAINT fk_rails_65c6ec4a5e FOREIGN KEY (account_id) REFERENCES public.accounts(id);

ALTER TABLE ONLY public.imports
    ADD CONSTRAINT fk_rails_138d41de18 FOREIGN KEY (account_id) REFERENCES public.accounts(id);

ALTER TABLE ONLY public.settings
    ADD CONSTRAINT fk_rails_74cf79690f FOREIGN KEY (account_id) REFERENCES public.accounts(id);

ALTER TABLE ONLY public.settings
    ADD CONSTRAINT fk_rails_64027fa041 FOREIGN KEY (timezone_id) REFERENCES public.timezones(id);

ALTER TABLE ONLY public.subscriptions
    ADD CONSTRAINT fk_rails_eb0e3ffd90 FOREIGN KEY (account_id) REFERENCES public.accounts(id);

ALTER TABLE ONLY public.subscriptions
    ADD CONSTRAINT fk_rails_63d3df128b FOREIGN KEY (plan_id) REFERENCES public.plans(id);

ALTER TABLE ONLY public.subscriptions
    ADD CONSTRAINT fk_rails_069d3430cb FOREIGN KEY (currency_id) REFERENCES public.currencies(id);

ALTER TABLE ONLY public.account_users
    ADD CONSTRAINT fk_rails_c96445f213 FOREIGN KEY (account_id) REFERENCES public.accounts(id);

ALTER TABLE ONLY public.account_users
    ADD CONSTRAINT fk_rails_685e030c15 FOREIGN KEY (user_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.team_memberships
    ADD CONSTRAINT fk_rails_61c29b529e FOREIGN KEY (team_id) REFERENCES public.teams(id);

ALTER TABLE ONLY public.team_memberships
    ADD CONSTRAINT fk_rails_5aba9331a7 FOREIGN KEY (user_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.boards
    ADD CONSTRAINT fk_rails_f15266b5f9 FOREIGN KEY (project_id) REFERENCES public.projects(id);

ALTER TABLE ONLY public.lists
    ADD CONSTRAINT fk_rails_0d3f677137 FOREIGN KEY (board_id) REFERENCES public.boards(id);

ALTER TABLE ONLY public.cards
    ADD CONSTRAINT fk_rails_11b32bc490 FOREIGN KEY (list_id) REFERENCES public.lists(id);

ALTER TABLE ONLY public.checklists
    ADD CONSTRAINT fk_rails_cc09ddaa1a FOREIGN KEY (card_id) REFERENCES public.cards(id);

ALTER TABLE ONLY public.checklist_items
    ADD CONSTRAINT fk_rails_3605ca8e4d FOREIGN KEY (checklist_id) REFERENCES public.checklists(id);

ALTER TABLE ONLY public.card_labels
    ADD CONSTRAINT fk_rails_52c8169682 FOREIGN KEY (card_id) REFERENCES public.cards(id);

ALTER TABLE ONLY public.card_labels
    ADD CONSTRAINT fk_rails_09ccc2de2e FOREIGN KEY (label_id) REFERENCES public.labels(id);

ALTER TABLE ONLY public.card_assignments
    ADD CONSTRAINT fk_rails_2d229e7f3b FOREIGN KEY (card_id) REFERENCES public.cards(id);

ALTER TABLE ONLY public.card_assignments
    ADD CONSTRAINT fk_rails_920dbf53ad FOREIGN KEY (user_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.sprints
    ADD CONSTRAINT fk_rails_e8206c9686 FOREIGN KEY (project_id) REFERENCES public.projects(id);

ALTER TABLE ONLY public.milestones
    ADD CONSTRAINT fk_rails_9bd0a0c791 FOREIGN KEY (project_id) REFERENCES public.projects(id);

ALTER TABLE ONLY public.notes
    ADD CONSTRAINT fk_rails_d69fcf748b FOREIGN KEY (board_id) REFERENCES public.boards(id);

ALTER TABLE ONLY public.notes
    ADD CONSTRAINT fk_rails_67ab949d23 FOREIGN KEY (sprint_id) REFERENCES public.sprints(id);

ALTER TABLE ONLY public.invoice_items
    ADD CONSTRAINT fk_rails_25bf3d2c5e FOREIGN KEY (invoice_id) REFERENCES public.invoices(id);

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT fk_rails_62d18ea517 FOREIGN KEY (invoice_id) REFERENCES public.invoices(id);

ALTER TABLE ONLY public.payments
    ADD CONSTRAINT fk_rails_f5e9349fe0 FOREIGN KEY (currency_id) REFERENCES public.currencies(id);

ALTER TABLE ONLY public.client_contacts
    ADD CONSTRAINT fk_rails_766917a6b6 FOREIGN KEY (client_id) REFERENCES public.clients(id);

ALTER TABLE ONLY public.client_contacts
    ADD CONSTRAINT fk_rails_3e4dfc4776 FOREIGN KEY (country_id) REFERENCES public.countries(id);

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT fk_rails_bed195a05d FOREIGN KEY (webhook_id) REFERENCES public.webhooks(id);

ALTER TABLE ONLY public.comments
    ADD CONSTRAINT fk_rails_03de2dc08c FOREIGN KEY (user_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.reactions
    ADD CONSTRAINT fk_rails_3ecbe30292 FOREIGN KEY (comment_id) REFERENCES public.comments(id);

ALTER TABLE ONLY public.reactions
    ADD CONSTRAINT fk_rails_9f02fc96a0 FOREIGN KEY (user_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.active_storage_attachments
    ADD CONSTRAINT fk_rails_c3b3935057 FOREIGN KEY (blob_id) REFERENCES public.active_storage_blobs(id);

ALTER TABLE ONLY public.time_entries
    ADD CONSTRAINT fk_rails_1fc4ad20d3 FOREIGN KEY (card_id) REFERENCES public.cards(id);

ALTER TABLE ONLY public.time_entries
    ADD CONSTRAINT fk_rails_b471d1824b FOREIGN KEY (user_id) REFERENCES public.users(id);

ALTER TABLE ONLY public.integration_logs
    ADD CONSTRAINT fk_rails_873e79b0b5 FOREIGN KEY (integration_id) REFERENCES public.integrations(id);

ALTER TABLE ONLY public.export_files
    ADD CONSTRAINT fk_rails_9210e153d2 FOREIGN KEY (export_id) REFERENCES public.exports(id);

ALTER TABLE ONLY public.documents
    ADD CONSTRAINT fk_rails_documents_project FOREIGN KEY (project_id) REFERENCES public.projects(id);

ALTER TABLE ONLY public.document_versions
    ADD CONSTRAINT fk_rails_document_versions_document FOREIGN KEY (document_id) REFERENCES public.documents(id);

ALTER TABLE ONLY public."ReportSnapshots"
    ADD CONSTRAINT "fk_ReportSnapshots_account" FOREIGN KEY ("accountId") REFERENCES public.accounts(id);

ALTER TABLE ONLY public."ReportRows"
    ADD CONSTRAINT "fk_ReportRows_snapshot" FOREIGN KEY ("snapshotId") REFERENCES public."ReportSnapshots"("Id");

SET search_path TO "$user", public;

INSERT INTO "schema_migrations" (version) VALUES
('20240101000000'),
('20240215103000'),
('20240601120000');

-- Rows: three accounts, two projects each, a board, a list and cards; notes
-- mostly filled through sprint_id (board_id is a legacy column, rarely set);
-- comments on cards and projects; attachments of cards and of users.
INSERT INTO public.accounts (id, name) VALUES
  ('00000000-0000-0000-0000-000000000001', 'Acme'), ('00000000-0000-0000-0000-000000000002', 'Globex'), ('00000000-0000-0000-0000-000000000003', 'Initech');
INSERT INTO public.users (email) SELECT 'u' || g || '@example.com' FROM generate_series(1, 6) g;
INSERT INTO public.projects (account_id, name) SELECT a.id, a.name || ' p' || g FROM public.accounts a, generate_series(1, 2) g ORDER BY a.id, g;
INSERT INTO public.boards (project_id, name) SELECT id, 'b' FROM public.projects ORDER BY id;
INSERT INTO public.lists (board_id, position) SELECT id, 1 FROM public.boards ORDER BY id;
INSERT INTO public.cards (list_id, title) SELECT l.id, 'c' || g FROM public.lists l, generate_series(1, 3) g ORDER BY l.id, g;
INSERT INTO public.sprints (project_id) SELECT id FROM public.projects ORDER BY id;
INSERT INTO public.notes (board_id, sprint_id, body)
  SELECT CASE WHEN g % 10 = 0 THEN 1 + g % 6 END, CASE WHEN g % 20 <> 7 THEN 1 + g % 6 END, 'n' || g FROM generate_series(1, 40) g;
INSERT INTO public.comments (commentable_type, commentable_id, user_id, body)
  SELECT CASE WHEN g % 3 = 0 THEN 'Project' ELSE 'Card' END, CASE WHEN g % 3 = 0 THEN 1 + g % 6 ELSE 1 + g % 18 END, 1 + g % 6, 'hi'
  FROM generate_series(1, 30) g;
INSERT INTO public.active_storage_blobs (key, filename, byte_size) SELECT 'k' || g, 'f' || g, 100 FROM generate_series(1, 4) g;
INSERT INTO public.active_storage_attachments (name, record_type, record_id, blob_id) VALUES
  ('file', 'Card', 1, 1), ('file', 'Card', 5, 2), ('avatar', 'User', 2, 3), ('file', 'Card', 9, 4);
