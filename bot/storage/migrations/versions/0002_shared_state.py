"""shared state for several replicas: outbox, channel addresses, console sessions, reminders

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 16:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases') as batch:
        batch.add_column(sa.Column('reminded_at', sa.DateTime(), nullable=True))
    op.create_table(
        'outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('conversation_id', sa.String(length=80), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
        sa.Column('failed_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_outbox_conversation_id', 'outbox', ['conversation_id'])
    op.create_index('ix_outbox_case_id', 'outbox', ['case_id'])
    op.create_index('ix_outbox_next_attempt_at', 'outbox', ['next_attempt_at'])
    op.create_table(
        'channel_addresses',
        sa.Column('conversation_id', sa.String(length=80), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('sealed', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('conversation_id'),
    )
    op.create_index('ix_channel_addresses_updated_at', 'channel_addresses', ['updated_at'])
    op.create_table(
        'console_sessions',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('operator_id', sa.Integer(), nullable=False),
        sa.Column('csrf', sa.String(length=64), nullable=False),
        sa.Column('last_seen', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['operator_id'], ['operators.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('token_hash'),
    )
    op.create_index('ix_console_sessions_last_seen', 'console_sessions', ['last_seen'])


def downgrade() -> None:
    op.drop_table('console_sessions')
    op.drop_table('channel_addresses')
    op.drop_table('outbox')
    with op.batch_alter_table('cases') as batch:
        batch.drop_column('reminded_at')
