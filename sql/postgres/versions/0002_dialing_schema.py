"""The dialing schema: campaigns, lists, leads, DNC, call attempts, callbacks, agent states,
recordings, utterances, outbox, imports, saved views, per-state calling rules and holidays.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 21:37:25.561662
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), server_default='', nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('dial_method', sa.String(length=20), server_default='progressive', nullable=False),
    sa.Column('dial_level', sa.Float(), server_default=sa.text('1.0'), nullable=False),
    sa.Column('min_dial_level', sa.Float(), server_default=sa.text('1.0'), nullable=False),
    sa.Column('max_dial_level', sa.Float(), server_default=sa.text('3.0'), nullable=False),
    sa.Column('dial_ratio', sa.Float(), server_default=sa.text('1.0'), nullable=False),
    sa.Column('target_abandon_rate', sa.Float(), server_default=sa.text('0.03'), nullable=False),
    sa.Column('abandon_window', sa.String(length=20), server_default='ftc_30d', nullable=False),
    sa.Column('drop_after_s', sa.Integer(), server_default=sa.text('2'), nullable=False),
    sa.Column('drop_action', sa.String(length=20), server_default='message', nullable=False),
    sa.Column('safe_harbor_audio', sa.String(length=255), nullable=True),
    sa.Column('caller_id', sa.String(length=16), nullable=True),
    sa.Column('dial_timeout_s', sa.Integer(), server_default=sa.text('26'), nullable=False),
    sa.Column('calling_windows', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text('\'{"mon": ["08:00", "21:00"], "tue": ["08:00", "21:00"], "wed": ["08:00", "21:00"], "thu": ["08:00", "21:00"], "fri": ["08:00", "21:00"], "sat": ["08:00", "21:00"], "sun": ["08:00", "21:00"]}\'::jsonb'), nullable=False),
    sa.Column('dial_statuses', sa.ARRAY(sa.String(length=20)), server_default=sa.text("'{NEW}'"), nullable=False),
    sa.Column('max_attempts', sa.Integer(), server_default=sa.text('5'), nullable=False),
    sa.Column('amd_enabled', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('amd_machine_action', sa.String(length=20), server_default='hangup', nullable=False),
    sa.Column('wrap_up_s', sa.Integer(), server_default=sa.text('10'), nullable=False),
    sa.Column('recording_policy', sa.String(length=20), server_default='none', nullable=False),
    sa.Column('lead_order', sa.String(length=20), server_default='priority', nullable=False),
    sa.Column('hopper_level', sa.Integer(), server_default=sa.text('100'), nullable=False),
    sa.Column('script_template', sa.Text(), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("abandon_window IN ('ftc_30d', 'ofcom_24h')", name=op.f('ck_campaigns_abandon_window')),
    sa.CheckConstraint("amd_machine_action IN ('hangup', 'message')", name=op.f('ck_campaigns_amd_machine_action')),
    sa.CheckConstraint("caller_id IS NULL OR caller_id ~ '^\\+[1-9][0-9]{6,14}$'", name=op.f('ck_campaigns_caller_id_e164')),
    sa.CheckConstraint("dial_method IN ('manual', 'preview', 'progressive', 'ratio', 'predictive', 'vicidial-adapt')", name=op.f('ck_campaigns_dial_method')),
    sa.CheckConstraint("drop_action IN ('hangup', 'message', 'audio', 'voicemail')", name=op.f('ck_campaigns_drop_action')),
    sa.CheckConstraint("jsonb_typeof(calling_windows) = 'object'", name=op.f('ck_campaigns_calling_windows_object')),
    sa.CheckConstraint("lead_order IN ('priority', 'new_first', 'oldest_last_call', 'random', 'tz_east_to_west')", name=op.f('ck_campaigns_lead_order')),
    sa.CheckConstraint("recording_policy IN ('none', 'all', 'on_demand')", name=op.f('ck_campaigns_recording_policy')),
    sa.CheckConstraint('dial_level >= 0 AND min_dial_level >= 0 AND min_dial_level <= max_dial_level AND max_dial_level <= 20', name=op.f('ck_campaigns_dial_levels')),
    sa.CheckConstraint('dial_ratio > 0 AND dial_ratio <= 20', name=op.f('ck_campaigns_dial_ratio')),
    sa.CheckConstraint('dial_timeout_s >= 15 AND dial_timeout_s <= 120', name=op.f('ck_campaigns_dial_timeout_s')),
    sa.CheckConstraint('drop_after_s >= 0 AND drop_after_s <= 60', name=op.f('ck_campaigns_drop_after_s')),
    sa.CheckConstraint('hopper_level >= 1', name=op.f('ck_campaigns_hopper_level')),
    sa.CheckConstraint('max_attempts >= 1', name=op.f('ck_campaigns_max_attempts')),
    sa.CheckConstraint('target_abandon_rate >= 0 AND target_abandon_rate <= 1', name=op.f('ck_campaigns_target_abandon_rate')),
    sa.CheckConstraint('wrap_up_s >= 0', name=op.f('ck_campaigns_wrap_up_s')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns')),
    sa.UniqueConstraint('name', name=op.f('uq_campaigns_name'))
    )
    op.create_table('holidays',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), server_default='US', nullable=False),
    sa.Column('state', sa.String(length=32), nullable=True),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holidays')),
    sa.UniqueConstraint('country', 'state', 'day', name=op.f('uq_holidays_country_state_day'), postgresql_nulls_not_distinct=True)
    )
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('topic', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_outbox_attempts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outbox'))
    )
    op.create_index('ix_outbox_undelivered', 'outbox', ['topic', 'id'], unique=False, postgresql_where=sa.text('delivered_at IS NULL'))
    op.create_table('state_calling_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('country', sa.String(length=2), server_default='US', nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('windows', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("jsonb_typeof(windows) = 'object'", name=op.f('ck_state_calling_rules_windows_object')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_state_calling_rules')),
    sa.UniqueConstraint('country', 'state', name=op.f('uq_state_calling_rules_country_state'))
    )
    op.create_table('campaign_recycle_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('delay_s', sa.Integer(), server_default=sa.text('1800'), nullable=False),
    sa.Column('max_attempts', sa.Integer(), server_default=sa.text('2'), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.CheckConstraint("status ~ '^[A-Z0-9_]{1,20}$'", name=op.f('ck_campaign_recycle_rules_status_code')),
    sa.CheckConstraint('delay_s >= 0', name=op.f('ck_campaign_recycle_rules_delay_s')),
    sa.CheckConstraint('max_attempts >= 1', name=op.f('ck_campaign_recycle_rules_max_attempts')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_campaign_recycle_rules_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_recycle_rules')),
    sa.UniqueConstraint('campaign_id', 'status', name=op.f('uq_campaign_recycle_rules_campaign_id_status'))
    )
    op.create_table('dispositions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('human_answered', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('sale', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('dnc', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('callback', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('selectable', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.CheckConstraint("code ~ '^[A-Z0-9_]{1,20}$'", name=op.f('ck_dispositions_code')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_dispositions_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispositions')),
    sa.UniqueConstraint('campaign_id', 'code', name=op.f('uq_dispositions_campaign_id_code'), postgresql_nulls_not_distinct=True)
    )
    op.create_table('lists',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('default_region', sa.String(length=2), server_default='US', nullable=False),
    sa.Column('reset_count', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_reset_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("default_region ~ '^[A-Z]{2}$'", name=op.f('ck_lists_default_region')),
    sa.CheckConstraint('reset_count >= 0', name=op.f('ck_lists_reset_count')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_lists_campaign_id_campaigns'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lists')),
    sa.UniqueConstraint('campaign_id', 'name', name=op.f('uq_lists_campaign_id_name'))
    )
    op.create_index(op.f('ix_lists_campaign_id'), 'lists', ['campaign_id'], unique=False)
    op.create_table('pause_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('code', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('billable', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('max_s', sa.Integer(), nullable=True),
    sa.CheckConstraint("code ~ '^[A-Z0-9_]{1,20}$'", name=op.f('ck_pause_codes_code')),
    sa.CheckConstraint('max_s IS NULL OR max_s > 0', name=op.f('ck_pause_codes_max_s')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_pause_codes_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pause_codes')),
    sa.UniqueConstraint('campaign_id', 'code', name=op.f('uq_pause_codes_campaign_id_code'), postgresql_nulls_not_distinct=True)
    )
    op.create_table('agent_sessions',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('extension', sa.String(length=64), nullable=True),
    sa.Column('pbx', sa.String(length=64), nullable=True),
    sa.Column('ip', postgresql.INET(), nullable=True),
    sa.CheckConstraint('ended_at IS NULL OR ended_at >= started_at', name=op.f('ck_agent_sessions_ended_after_started')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_agent_sessions_campaign_id_campaigns'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_agent_sessions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_sessions'))
    )
    op.create_index('ix_agent_sessions_campaign_started', 'agent_sessions', ['campaign_id', 'started_at'], unique=False)
    op.create_index('ix_agent_sessions_user_started', 'agent_sessions', ['user_id', 'started_at'], unique=False)
    op.create_index('uq_agent_sessions_user_open', 'agent_sessions', ['user_id'], unique=True, postgresql_where=sa.text('ended_at IS NULL'))
    op.create_table('dnc_entries',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('phone_e164', sa.String(length=16), nullable=False),
    sa.Column('scope', sa.String(length=10), server_default='global', nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=50), server_default='manual', nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('added_by', sa.Integer(), nullable=True),
    sa.Column('added_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(scope = 'global' AND campaign_id IS NULL) OR (scope = 'campaign' AND campaign_id IS NOT NULL)", name=op.f('ck_dnc_entries_scope_campaign_consistent')),
    sa.CheckConstraint("phone_e164 ~ '^\\+[1-9][0-9]{6,14}$'", name=op.f('ck_dnc_entries_phone_e164')),
    sa.CheckConstraint("scope IN ('global', 'campaign')", name=op.f('ck_dnc_entries_scope')),
    sa.CheckConstraint('expires_at IS NULL OR expires_at > added_at', name=op.f('ck_dnc_entries_expires_after_added')),
    sa.ForeignKeyConstraint(['added_by'], ['users.id'], name=op.f('fk_dnc_entries_added_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_dnc_entries_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dnc_entries')),
    sa.UniqueConstraint('phone_e164', 'campaign_id', name=op.f('uq_dnc_entries_phone_e164_campaign_id'), postgresql_nulls_not_distinct=True)
    )
    op.create_index(op.f('ix_dnc_entries_campaign_id'), 'dnc_entries', ['campaign_id'], unique=False)
    op.create_table('import_jobs',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=10), server_default='pending', nullable=False),
    sa.Column('total_rows', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('good_rows', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('bad_rows', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('duplicate_rows', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('error_report_path', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('celery_task_id', sa.String(length=64), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'running', 'done', 'failed', 'cancelled')", name=op.f('ck_import_jobs_status')),
    sa.CheckConstraint('total_rows >= 0 AND good_rows >= 0 AND bad_rows >= 0 AND duplicate_rows >= 0', name=op.f('ck_import_jobs_row_counts')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_import_jobs_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['list_id'], ['lists.id'], name=op.f('fk_import_jobs_list_id_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_import_jobs'))
    )
    op.create_index('ix_import_jobs_list_created', 'import_jobs', ['list_id', 'created_at'], unique=False)
    op.create_table('leads',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('phone_e164', sa.String(length=16), nullable=False),
    sa.Column('alt_phone_e164', sa.String(length=16), nullable=True),
    sa.Column('first_name', sa.String(length=100), server_default='', nullable=False),
    sa.Column('last_name', sa.String(length=100), server_default='', nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('address', sa.String(length=200), nullable=True),
    sa.Column('city', sa.String(length=100), nullable=True),
    sa.Column('state', sa.String(length=32), nullable=True),
    sa.Column('postal_code', sa.String(length=16), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('tz_candidates', sa.ARRAY(sa.String(length=64)), nullable=True),
    sa.Column('status', sa.String(length=20), server_default='NEW', nullable=False),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('priority', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('last_called_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_call_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('called_since_reset', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('vendor_lead_code', sa.String(length=50), nullable=True),
    sa.Column('custom_fields', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('consent_call', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('consent_sms', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('consent_source', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("alt_phone_e164 IS NULL OR alt_phone_e164 ~ '^\\+[1-9][0-9]{6,14}$'", name=op.f('ck_leads_alt_phone_e164')),
    sa.CheckConstraint("jsonb_typeof(custom_fields) = 'object'", name=op.f('ck_leads_custom_fields_object')),
    sa.CheckConstraint("phone_e164 ~ '^\\+[1-9][0-9]{6,14}$'", name=op.f('ck_leads_phone_e164')),
    sa.CheckConstraint("status ~ '^[A-Z0-9_]{1,20}$'", name=op.f('ck_leads_status_code')),
    sa.CheckConstraint('attempts >= 0', name=op.f('ck_leads_attempts_nonnegative')),
    sa.ForeignKeyConstraint(['list_id'], ['lists.id'], name=op.f('fk_leads_list_id_lists'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_leads')),
    sa.UniqueConstraint('list_id', 'phone_e164', name=op.f('uq_leads_list_id_phone_e164'))
    )
    op.create_index('ix_leads_hopper', 'leads', ['list_id', 'status', 'next_call_at'], unique=False, postgresql_where=sa.text('NOT called_since_reset'))
    op.create_index('ix_leads_phone_e164', 'leads', ['phone_e164'], unique=False)
    op.create_index('ix_leads_recycle', 'leads', ['list_id', 'status', 'last_called_at'], unique=False)
    op.create_table('saved_views',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('page', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('state', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_saved_views_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_views')),
    sa.UniqueConstraint('user_id', 'page', 'name', name=op.f('uq_saved_views_user_id_page_name'))
    )
    op.create_table('call_attempts',
    sa.Column('call_id', sa.UUID(), server_default=sa.text('gen_random_uuid()'), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=True),
    sa.Column('lead_id', sa.BigInteger(), nullable=True),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('pbx', sa.String(length=64), nullable=False),
    sa.Column('uniqueid', sa.String(length=64), nullable=True),
    sa.Column('channel', sa.String(length=128), nullable=True),
    sa.Column('phone_e164', sa.String(length=16), nullable=False),
    sa.Column('attempt_no', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('dial_method', sa.String(length=20), nullable=False),
    sa.Column('dialed_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('ringing_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('amd_verdict', sa.String(length=10), nullable=True),
    sa.Column('amd_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('connected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('wrap_ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.Column('hangup_cause', sa.SmallInteger(), nullable=True),
    sa.Column('hangup_cause_txt', sa.String(length=64), nullable=True),
    sa.Column('dropped', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('safe_harbor_played', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('disposition_code', sa.String(length=20), nullable=True),
    sa.Column('recording_id', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("amd_verdict IS NULL OR amd_verdict IN ('human', 'machine', 'notsure')", name=op.f('ck_call_attempts_amd_verdict')),
    sa.CheckConstraint("dial_method IN ('manual', 'preview', 'progressive', 'ratio', 'predictive', 'vicidial-adapt')", name=op.f('ck_call_attempts_dial_method')),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('human', 'machine', 'busy', 'congestion', 'no_answer', 'failed', 'abandoned', 'cancelled')", name=op.f('ck_call_attempts_outcome')),
    sa.CheckConstraint("phone_e164 ~ '^\\+[1-9][0-9]{6,14}$'", name=op.f('ck_call_attempts_phone_e164')),
    sa.CheckConstraint('attempt_no >= 1', name=op.f('ck_call_attempts_attempt_no')),
    sa.CheckConstraint('hangup_cause IS NULL OR (hangup_cause >= 0 AND hangup_cause <= 127)', name=op.f('ck_call_attempts_hangup_cause')),
    sa.ForeignKeyConstraint(['agent_id'], ['users.id'], name=op.f('fk_call_attempts_agent_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_call_attempts_campaign_id_campaigns'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_call_attempts_lead_id_leads'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['list_id'], ['lists.id'], name=op.f('fk_call_attempts_list_id_lists'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('call_id', name=op.f('pk_call_attempts'))
    )
    op.create_index('ix_call_attempts_agent_dialed', 'call_attempts', ['agent_id', 'dialed_at'], unique=False)
    op.create_index('ix_call_attempts_campaign_dialed', 'call_attempts', ['campaign_id', 'dialed_at'], unique=False)
    op.create_index('ix_call_attempts_in_flight', 'call_attempts', ['dialed_at'], unique=False, postgresql_where=sa.text('ended_at IS NULL'))
    op.create_index(op.f('ix_call_attempts_lead_id'), 'call_attempts', ['lead_id'], unique=False)
    op.create_index('ix_call_attempts_phone_dialed', 'call_attempts', ['phone_e164', 'dialed_at'], unique=False)
    op.create_index('uq_call_attempts_pbx_uniqueid', 'call_attempts', ['pbx', 'uniqueid'], unique=True, postgresql_where=sa.text('uniqueid IS NOT NULL'))
    op.create_table('callbacks',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('lead_id', sa.BigInteger(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('agent_id', sa.Integer(), nullable=True),
    sa.Column('scope', sa.String(length=10), server_default='anyone', nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lead_local_time', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.Column('status', sa.String(length=10), server_default='pending', nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(scope = 'anyone' AND agent_id IS NULL) OR (scope = 'agent' AND agent_id IS NOT NULL)", name=op.f('ck_callbacks_scope_agent_consistent')),
    sa.CheckConstraint("scope IN ('anyone', 'agent')", name=op.f('ck_callbacks_scope')),
    sa.CheckConstraint("status IN ('pending', 'done', 'cancelled')", name=op.f('ck_callbacks_status')),
    sa.ForeignKeyConstraint(['agent_id'], ['users.id'], name=op.f('fk_callbacks_agent_id_users')),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_callbacks_campaign_id_campaigns'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_callbacks_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['lead_id'], ['leads.id'], name=op.f('fk_callbacks_lead_id_leads'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_callbacks'))
    )
    op.create_index('ix_callbacks_agent_pending', 'callbacks', ['agent_id', 'due_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_index('ix_callbacks_due', 'callbacks', ['campaign_id', 'due_at'], unique=False, postgresql_where=sa.text("status = 'pending'"))
    op.create_index('uq_callbacks_lead_pending', 'callbacks', ['lead_id'], unique=True, postgresql_where=sa.text("status = 'pending'"))
    op.create_table('agent_state_intervals',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('session_id', sa.BigInteger(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('pause_code', sa.String(length=20), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('call_id', sa.UUID(), nullable=True),
    sa.CheckConstraint("pause_code IS NULL OR state = 'paused'", name=op.f('ck_agent_state_intervals_pause_code_only_when_paused')),
    sa.CheckConstraint("state IN ('ready', 'reserved', 'incall', 'wrap', 'paused', 'dead')", name=op.f('ck_agent_state_intervals_state')),
    sa.CheckConstraint('ended_at IS NULL OR ended_at >= started_at', name=op.f('ck_agent_state_intervals_ended_after_started')),
    sa.ForeignKeyConstraint(['call_id'], ['call_attempts.call_id'], name=op.f('fk_agent_state_intervals_call_id_call_attempts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], name=op.f('fk_agent_state_intervals_campaign_id_campaigns'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['session_id'], ['agent_sessions.id'], name=op.f('fk_agent_state_intervals_session_id_agent_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_agent_state_intervals_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_state_intervals'))
    )
    op.create_index('ix_agent_state_intervals_call_id', 'agent_state_intervals', ['call_id'], unique=False)
    op.create_index('ix_agent_state_intervals_campaign_started', 'agent_state_intervals', ['campaign_id', 'started_at'], unique=False)
    op.create_index('ix_agent_state_intervals_user_started', 'agent_state_intervals', ['user_id', 'started_at'], unique=False)
    op.create_index('uq_agent_state_intervals_session_open', 'agent_state_intervals', ['session_id'], unique=True, postgresql_where=sa.text('ended_at IS NULL'))
    op.create_table('recordings',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('call_id', sa.UUID(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('format', sa.String(length=10), server_default='wav', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("format IN ('wav', 'wav49', 'gsm', 'mp3', 'ogg', 'opus')", name=op.f('ck_recordings_format')),
    sa.CheckConstraint('duration_s IS NULL OR duration_s >= 0', name=op.f('ck_recordings_duration_s')),
    sa.CheckConstraint('ended_at IS NULL OR ended_at >= started_at', name=op.f('ck_recordings_ended_after_started')),
    sa.CheckConstraint('size_bytes IS NULL OR size_bytes >= 0', name=op.f('ck_recordings_size_bytes')),
    sa.ForeignKeyConstraint(['call_id'], ['call_attempts.call_id'], name=op.f('fk_recordings_call_id_call_attempts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recordings'))
    )
    op.create_index(op.f('ix_recordings_call_id'), 'recordings', ['call_id'], unique=False)
    op.create_table('utterances',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('call_id', sa.UUID(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('speaker', sa.String(length=10), nullable=False),
    sa.Column('started_s', sa.Float(), nullable=False),
    sa.Column('ended_s', sa.Float(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('text_redacted', sa.Text(), nullable=True),
    sa.Column('redacted', sa.Boolean(), server_default=sa.text('false'), nullable=False),
    sa.Column('sentiment', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("speaker IN ('agent', 'customer')", name=op.f('ck_utterances_speaker')),
    sa.CheckConstraint('sentiment IS NULL OR (sentiment >= -1 AND sentiment <= 1)', name=op.f('ck_utterances_sentiment_range')),
    sa.CheckConstraint('seq >= 0', name=op.f('ck_utterances_seq')),
    sa.CheckConstraint('started_s >= 0 AND ended_s >= started_s', name=op.f('ck_utterances_times')),
    sa.ForeignKeyConstraint(['call_id'], ['call_attempts.call_id'], name=op.f('fk_utterances_call_id_call_attempts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_utterances')),
    sa.UniqueConstraint('call_id', 'seq', name=op.f('uq_utterances_call_id_seq'))
    )

    # call_attempts.recording_id <-> recordings.call_id is a cycle: add this side last.
    op.create_foreign_key(
        op.f('fk_call_attempts_recording_id_recordings'), 'call_attempts', 'recordings',
        ['recording_id'], ['id'], ondelete='SET NULL',
    )

def downgrade() -> None:
    op.drop_constraint(op.f('fk_call_attempts_recording_id_recordings'), 'call_attempts', type_='foreignkey')
    op.drop_table('utterances')
    op.drop_index(op.f('ix_recordings_call_id'), table_name='recordings')
    op.drop_table('recordings')
    op.drop_index('uq_agent_state_intervals_session_open', table_name='agent_state_intervals', postgresql_where=sa.text('ended_at IS NULL'))
    op.drop_index('ix_agent_state_intervals_user_started', table_name='agent_state_intervals')
    op.drop_index('ix_agent_state_intervals_campaign_started', table_name='agent_state_intervals')
    op.drop_index('ix_agent_state_intervals_call_id', table_name='agent_state_intervals')
    op.drop_table('agent_state_intervals')
    op.drop_index('uq_callbacks_lead_pending', table_name='callbacks', postgresql_where=sa.text("status = 'pending'"))
    op.drop_index('ix_callbacks_due', table_name='callbacks', postgresql_where=sa.text("status = 'pending'"))
    op.drop_index('ix_callbacks_agent_pending', table_name='callbacks', postgresql_where=sa.text("status = 'pending'"))
    op.drop_table('callbacks')
    op.drop_index('uq_call_attempts_pbx_uniqueid', table_name='call_attempts', postgresql_where=sa.text('uniqueid IS NOT NULL'))
    op.drop_index('ix_call_attempts_phone_dialed', table_name='call_attempts')
    op.drop_index(op.f('ix_call_attempts_lead_id'), table_name='call_attempts')
    op.drop_index('ix_call_attempts_in_flight', table_name='call_attempts', postgresql_where=sa.text('ended_at IS NULL'))
    op.drop_index('ix_call_attempts_campaign_dialed', table_name='call_attempts')
    op.drop_index('ix_call_attempts_agent_dialed', table_name='call_attempts')
    op.drop_table('call_attempts')
    op.drop_table('saved_views')
    op.drop_index('ix_leads_recycle', table_name='leads')
    op.drop_index('ix_leads_phone_e164', table_name='leads')
    op.drop_index('ix_leads_hopper', table_name='leads', postgresql_where=sa.text('NOT called_since_reset'))
    op.drop_table('leads')
    op.drop_index('ix_import_jobs_list_created', table_name='import_jobs')
    op.drop_table('import_jobs')
    op.drop_index(op.f('ix_dnc_entries_campaign_id'), table_name='dnc_entries')
    op.drop_table('dnc_entries')
    op.drop_index('uq_agent_sessions_user_open', table_name='agent_sessions', postgresql_where=sa.text('ended_at IS NULL'))
    op.drop_index('ix_agent_sessions_user_started', table_name='agent_sessions')
    op.drop_index('ix_agent_sessions_campaign_started', table_name='agent_sessions')
    op.drop_table('agent_sessions')
    op.drop_table('pause_codes')
    op.drop_index(op.f('ix_lists_campaign_id'), table_name='lists')
    op.drop_table('lists')
    op.drop_table('dispositions')
    op.drop_table('campaign_recycle_rules')
    op.drop_table('state_calling_rules')
    op.drop_index('ix_outbox_undelivered', table_name='outbox', postgresql_where=sa.text('delivered_at IS NULL'))
    op.drop_table('outbox')
    op.drop_table('holidays')
    op.drop_table('campaigns')
