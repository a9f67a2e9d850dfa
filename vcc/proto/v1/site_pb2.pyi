from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    VOICE: _ClassVar[Channel]
    CHAT: _ClassVar[Channel]
    EMAIL: _ClassVar[Channel]
    SMS: _ClassVar[Channel]
CHANNEL_UNSPECIFIED: Channel
VOICE: Channel
CHAT: Channel
EMAIL: Channel
SMS: Channel

class ContactSubmission(_message.Message):
    __slots__ = ("contact_id", "channel", "entry_point", "caller_id", "data", "patience_s", "ivr_at_gateway")
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ENTRY_POINT_FIELD_NUMBER: _ClassVar[int]
    CALLER_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    PATIENCE_S_FIELD_NUMBER: _ClassVar[int]
    IVR_AT_GATEWAY_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    channel: Channel
    entry_point: str
    caller_id: str
    data: _containers.ScalarMap[str, str]
    patience_s: float
    ivr_at_gateway: bool
    def __init__(self, contact_id: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., entry_point: _Optional[str] = ..., caller_id: _Optional[str] = ..., data: _Optional[_Mapping[str, str]] = ..., patience_s: _Optional[float] = ..., ivr_at_gateway: _Optional[bool] = ...) -> None: ...

class SubmitContactsRequest(_message.Message):
    __slots__ = ("contacts",)
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    contacts: _containers.RepeatedCompositeFieldContainer[ContactSubmission]
    def __init__(self, contacts: _Optional[_Iterable[_Union[ContactSubmission, _Mapping]]] = ...) -> None: ...

class SubmitResult(_message.Message):
    __slots__ = ("contact_id", "accepted", "site", "error")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    accepted: bool
    site: str
    error: str
    def __init__(self, contact_id: _Optional[str] = ..., accepted: _Optional[bool] = ..., site: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class SubmitContactsReply(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[SubmitResult]
    def __init__(self, results: _Optional[_Iterable[_Union[SubmitResult, _Mapping]]] = ...) -> None: ...

class AbandonRequest(_message.Message):
    __slots__ = ("contact_ids",)
    CONTACT_IDS_FIELD_NUMBER: _ClassVar[int]
    contact_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, contact_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class AbandonReply(_message.Message):
    __slots__ = ("abandoned",)
    ABANDONED_FIELD_NUMBER: _ClassVar[int]
    abandoned: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, abandoned: _Optional[_Iterable[str]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("seq", "site", "json")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    JSON_FIELD_NUMBER: _ClassVar[int]
    seq: int
    site: str
    json: str
    def __init__(self, seq: _Optional[int] = ..., site: _Optional[str] = ..., json: _Optional[str] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ("contact_id", "tenant", "include_agents", "from_seq")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_AGENTS_FIELD_NUMBER: _ClassVar[int]
    FROM_SEQ_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    tenant: str
    include_agents: bool
    from_seq: int
    def __init__(self, contact_id: _Optional[str] = ..., tenant: _Optional[str] = ..., include_agents: _Optional[bool] = ..., from_seq: _Optional[int] = ...) -> None: ...

class AgentCommand(_message.Message):
    __slots__ = ("agent_id", "request_id", "login", "ready", "not_ready", "accept", "reject", "complete", "end_wrap_up", "logout", "hold", "resume", "transfer", "consult", "chat")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    NOT_READY_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_FIELD_NUMBER: _ClassVar[int]
    REJECT_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_FIELD_NUMBER: _ClassVar[int]
    END_WRAP_UP_FIELD_NUMBER: _ClassVar[int]
    LOGOUT_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    RESUME_FIELD_NUMBER: _ClassVar[int]
    TRANSFER_FIELD_NUMBER: _ClassVar[int]
    CONSULT_FIELD_NUMBER: _ClassVar[int]
    CHAT_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    request_id: int
    login: Login
    ready: Ready
    not_ready: NotReady
    accept: Accept
    reject: Reject
    complete: Complete
    end_wrap_up: EndWrapUp
    logout: Logout
    hold: Hold
    resume: Resume
    transfer: Transfer
    consult: ConsultTransfer
    chat: ChatMessage
    def __init__(self, agent_id: _Optional[str] = ..., request_id: _Optional[int] = ..., login: _Optional[_Union[Login, _Mapping]] = ..., ready: _Optional[_Union[Ready, _Mapping]] = ..., not_ready: _Optional[_Union[NotReady, _Mapping]] = ..., accept: _Optional[_Union[Accept, _Mapping]] = ..., reject: _Optional[_Union[Reject, _Mapping]] = ..., complete: _Optional[_Union[Complete, _Mapping]] = ..., end_wrap_up: _Optional[_Union[EndWrapUp, _Mapping]] = ..., logout: _Optional[_Union[Logout, _Mapping]] = ..., hold: _Optional[_Union[Hold, _Mapping]] = ..., resume: _Optional[_Union[Resume, _Mapping]] = ..., transfer: _Optional[_Union[Transfer, _Mapping]] = ..., consult: _Optional[_Union[ConsultTransfer, _Mapping]] = ..., chat: _Optional[_Union[ChatMessage, _Mapping]] = ...) -> None: ...

class Login(_message.Message):
    __slots__ = ("password", "session_token")
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    password: str
    session_token: str
    def __init__(self, password: _Optional[str] = ..., session_token: _Optional[str] = ...) -> None: ...

class Hold(_message.Message):
    __slots__ = ("contact_id",)
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    def __init__(self, contact_id: _Optional[str] = ...) -> None: ...

class Resume(_message.Message):
    __slots__ = ("contact_id",)
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    def __init__(self, contact_id: _Optional[str] = ...) -> None: ...

class Transfer(_message.Message):
    __slots__ = ("contact_id", "queue", "agent_id")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    queue: str
    agent_id: str
    def __init__(self, contact_id: _Optional[str] = ..., queue: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class ConsultTransfer(_message.Message):
    __slots__ = ("contact_id", "agent_id", "step")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    agent_id: str
    step: str
    def __init__(self, contact_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., step: _Optional[str] = ...) -> None: ...

class ChatMessage(_message.Message):
    __slots__ = ("contact_id", "text")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    text: str
    def __init__(self, contact_id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class Ready(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NotReady(_message.Message):
    __slots__ = ("reason_code",)
    REASON_CODE_FIELD_NUMBER: _ClassVar[int]
    reason_code: str
    def __init__(self, reason_code: _Optional[str] = ...) -> None: ...

class Accept(_message.Message):
    __slots__ = ("contact_id",)
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    def __init__(self, contact_id: _Optional[str] = ...) -> None: ...

class Reject(_message.Message):
    __slots__ = ("contact_id",)
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    def __init__(self, contact_id: _Optional[str] = ...) -> None: ...

class Complete(_message.Message):
    __slots__ = ("contact_id", "disposition", "skip_wrap_up")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    SKIP_WRAP_UP_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    disposition: str
    skip_wrap_up: bool
    def __init__(self, contact_id: _Optional[str] = ..., disposition: _Optional[str] = ..., skip_wrap_up: _Optional[bool] = ...) -> None: ...

class EndWrapUp(_message.Message):
    __slots__ = ("contact_id", "disposition", "notes")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    disposition: str
    notes: str
    def __init__(self, contact_id: _Optional[str] = ..., disposition: _Optional[str] = ..., notes: _Optional[str] = ...) -> None: ...

class Logout(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CommandResult(_message.Message):
    __slots__ = ("request_id", "ok", "error", "state", "owner_site")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OWNER_SITE_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    ok: bool
    error: str
    state: str
    owner_site: str
    def __init__(self, request_id: _Optional[int] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ..., state: _Optional[str] = ..., owner_site: _Optional[str] = ...) -> None: ...

class Offer(_message.Message):
    __slots__ = ("contact_id", "tenant", "queue", "channel", "caller_id", "waited_s", "data", "expires_ts")
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CALLER_ID_FIELD_NUMBER: _ClassVar[int]
    WAITED_S_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_TS_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    tenant: str
    queue: str
    channel: Channel
    caller_id: str
    waited_s: float
    data: _containers.ScalarMap[str, str]
    expires_ts: float
    def __init__(self, contact_id: _Optional[str] = ..., tenant: _Optional[str] = ..., queue: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., caller_id: _Optional[str] = ..., waited_s: _Optional[float] = ..., data: _Optional[_Mapping[str, str]] = ..., expires_ts: _Optional[float] = ...) -> None: ...

class OfferRescinded(_message.Message):
    __slots__ = ("contact_id", "reason")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    reason: str
    def __init__(self, contact_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AgentUpdate(_message.Message):
    __slots__ = ("agent_id", "result", "offer", "rescinded", "notice")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    OFFER_FIELD_NUMBER: _ClassVar[int]
    RESCINDED_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    result: CommandResult
    offer: Offer
    rescinded: OfferRescinded
    notice: ContactNotice
    def __init__(self, agent_id: _Optional[str] = ..., result: _Optional[_Union[CommandResult, _Mapping]] = ..., offer: _Optional[_Union[Offer, _Mapping]] = ..., rescinded: _Optional[_Union[OfferRescinded, _Mapping]] = ..., notice: _Optional[_Union[ContactNotice, _Mapping]] = ...) -> None: ...

class AgentCommands(_message.Message):
    __slots__ = ("commands",)
    COMMANDS_FIELD_NUMBER: _ClassVar[int]
    commands: _containers.RepeatedCompositeFieldContainer[AgentCommand]
    def __init__(self, commands: _Optional[_Iterable[_Union[AgentCommand, _Mapping]]] = ...) -> None: ...

class AgentUpdates(_message.Message):
    __slots__ = ("updates",)
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    updates: _containers.RepeatedCompositeFieldContainer[AgentUpdate]
    def __init__(self, updates: _Optional[_Iterable[_Union[AgentUpdate, _Mapping]]] = ...) -> None: ...

class ContactNotice(_message.Message):
    __slots__ = ("contact_id", "kind", "data")
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    kind: str
    data: _containers.ScalarMap[str, str]
    def __init__(self, contact_id: _Optional[str] = ..., kind: _Optional[str] = ..., data: _Optional[_Mapping[str, str]] = ...) -> None: ...

class LoadRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueueLoad(_message.Message):
    __slots__ = ("queue", "tenant", "waiting", "ewt_s", "ready_agents", "staffed_agents", "oldest_wait_s")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    EWT_S_FIELD_NUMBER: _ClassVar[int]
    READY_AGENTS_FIELD_NUMBER: _ClassVar[int]
    STAFFED_AGENTS_FIELD_NUMBER: _ClassVar[int]
    OLDEST_WAIT_S_FIELD_NUMBER: _ClassVar[int]
    queue: str
    tenant: str
    waiting: int
    ewt_s: float
    ready_agents: int
    staffed_agents: int
    oldest_wait_s: float
    def __init__(self, queue: _Optional[str] = ..., tenant: _Optional[str] = ..., waiting: _Optional[int] = ..., ewt_s: _Optional[float] = ..., ready_agents: _Optional[int] = ..., staffed_agents: _Optional[int] = ..., oldest_wait_s: _Optional[float] = ...) -> None: ...

class SiteLoad(_message.Message):
    __slots__ = ("site", "ts", "fenced", "queues")
    SITE_FIELD_NUMBER: _ClassVar[int]
    TS_FIELD_NUMBER: _ClassVar[int]
    FENCED_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    site: str
    ts: float
    fenced: bool
    queues: _containers.RepeatedCompositeFieldContainer[QueueLoad]
    def __init__(self, site: _Optional[str] = ..., ts: _Optional[float] = ..., fenced: _Optional[bool] = ..., queues: _Optional[_Iterable[_Union[QueueLoad, _Mapping]]] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ActorHealth(_message.Message):
    __slots__ = ("name", "kind", "healthy", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: str
    healthy: bool
    detail: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[str] = ..., healthy: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class SiteStatus(_message.Message):
    __slots__ = ("site", "fenced", "lease_id", "lease_ttl_s", "config_version", "actors", "queues", "adopted_sites", "agents_logged_in", "contacts_in_progress")
    SITE_FIELD_NUMBER: _ClassVar[int]
    FENCED_FIELD_NUMBER: _ClassVar[int]
    LEASE_ID_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_S_FIELD_NUMBER: _ClassVar[int]
    CONFIG_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTORS_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    ADOPTED_SITES_FIELD_NUMBER: _ClassVar[int]
    AGENTS_LOGGED_IN_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_IN_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    site: str
    fenced: bool
    lease_id: int
    lease_ttl_s: float
    config_version: int
    actors: _containers.RepeatedCompositeFieldContainer[ActorHealth]
    queues: _containers.RepeatedCompositeFieldContainer[QueueLoad]
    adopted_sites: _containers.RepeatedScalarFieldContainer[str]
    agents_logged_in: int
    contacts_in_progress: int
    def __init__(self, site: _Optional[str] = ..., fenced: _Optional[bool] = ..., lease_id: _Optional[int] = ..., lease_ttl_s: _Optional[float] = ..., config_version: _Optional[int] = ..., actors: _Optional[_Iterable[_Union[ActorHealth, _Mapping]]] = ..., queues: _Optional[_Iterable[_Union[QueueLoad, _Mapping]]] = ..., adopted_sites: _Optional[_Iterable[str]] = ..., agents_logged_in: _Optional[int] = ..., contacts_in_progress: _Optional[int] = ...) -> None: ...

class ConfigRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ConfigReply(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class IvrOutcomeRequest(_message.Message):
    __slots__ = ("contact_id", "outcome", "queue", "priority_delta", "data", "reason", "callback_number", "skills")
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class SkillsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_DELTA_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    outcome: str
    queue: str
    priority_delta: int
    data: _containers.ScalarMap[str, str]
    reason: str
    callback_number: str
    skills: _containers.ScalarMap[str, int]
    def __init__(self, contact_id: _Optional[str] = ..., outcome: _Optional[str] = ..., queue: _Optional[str] = ..., priority_delta: _Optional[int] = ..., data: _Optional[_Mapping[str, str]] = ..., reason: _Optional[str] = ..., callback_number: _Optional[str] = ..., skills: _Optional[_Mapping[str, int]] = ...) -> None: ...

class IvrOutcomeReply(_message.Message):
    __slots__ = ("ok", "error")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    error: str
    def __init__(self, ok: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class PositionRequest(_message.Message):
    __slots__ = ("contact_id",)
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    def __init__(self, contact_id: _Optional[str] = ...) -> None: ...

class Position(_message.Message):
    __slots__ = ("contact_id", "state", "queue", "position", "ewt_s", "waited_s", "agent_id")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    EWT_S_FIELD_NUMBER: _ClassVar[int]
    WAITED_S_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    state: str
    queue: str
    position: int
    ewt_s: float
    waited_s: float
    agent_id: str
    def __init__(self, contact_id: _Optional[str] = ..., state: _Optional[str] = ..., queue: _Optional[str] = ..., position: _Optional[int] = ..., ewt_s: _Optional[float] = ..., waited_s: _Optional[float] = ..., agent_id: _Optional[str] = ...) -> None: ...

class ContactNoteRequest(_message.Message):
    __slots__ = ("contact_id", "reason", "data")
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    reason: str
    data: _containers.ScalarMap[str, str]
    def __init__(self, contact_id: _Optional[str] = ..., reason: _Optional[str] = ..., data: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ContactNoteReply(_message.Message):
    __slots__ = ("ok", "error")
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    error: str
    def __init__(self, ok: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class HistoryRequest(_message.Message):
    __slots__ = ("caller_id", "tenants", "limit")
    CALLER_ID_FIELD_NUMBER: _ClassVar[int]
    TENANTS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    caller_id: str
    tenants: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    def __init__(self, caller_id: _Optional[str] = ..., tenants: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ...) -> None: ...

class PastContact(_message.Message):
    __slots__ = ("contact_id", "tenant", "channel", "arrived_ts", "state", "queue", "agent_id", "disposition", "site")
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ARRIVED_TS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    tenant: str
    channel: str
    arrived_ts: float
    state: str
    queue: str
    agent_id: str
    disposition: str
    site: str
    def __init__(self, contact_id: _Optional[str] = ..., tenant: _Optional[str] = ..., channel: _Optional[str] = ..., arrived_ts: _Optional[float] = ..., state: _Optional[str] = ..., queue: _Optional[str] = ..., agent_id: _Optional[str] = ..., disposition: _Optional[str] = ..., site: _Optional[str] = ...) -> None: ...

class HistoryReply(_message.Message):
    __slots__ = ("contacts",)
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    contacts: _containers.RepeatedCompositeFieldContainer[PastContact]
    def __init__(self, contacts: _Optional[_Iterable[_Union[PastContact, _Mapping]]] = ...) -> None: ...

class RoutedContact(_message.Message):
    __slots__ = ("contact_id", "tenant", "channel", "queue", "caller_id", "arrived_ts", "priority", "data", "origin_site", "extra_skills", "patience_s")
    class DataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ExtraSkillsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    CONTACT_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    CALLER_ID_FIELD_NUMBER: _ClassVar[int]
    ARRIVED_TS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_SITE_FIELD_NUMBER: _ClassVar[int]
    EXTRA_SKILLS_FIELD_NUMBER: _ClassVar[int]
    PATIENCE_S_FIELD_NUMBER: _ClassVar[int]
    contact_id: str
    tenant: str
    channel: Channel
    queue: str
    caller_id: str
    arrived_ts: float
    priority: int
    data: _containers.ScalarMap[str, str]
    origin_site: str
    extra_skills: _containers.ScalarMap[str, int]
    patience_s: float
    def __init__(self, contact_id: _Optional[str] = ..., tenant: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., queue: _Optional[str] = ..., caller_id: _Optional[str] = ..., arrived_ts: _Optional[float] = ..., priority: _Optional[int] = ..., data: _Optional[_Mapping[str, str]] = ..., origin_site: _Optional[str] = ..., extra_skills: _Optional[_Mapping[str, int]] = ..., patience_s: _Optional[float] = ...) -> None: ...

class OfferContactsRequest(_message.Message):
    __slots__ = ("from_site", "contacts")
    FROM_SITE_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_FIELD_NUMBER: _ClassVar[int]
    from_site: str
    contacts: _containers.RepeatedCompositeFieldContainer[RoutedContact]
    def __init__(self, from_site: _Optional[str] = ..., contacts: _Optional[_Iterable[_Union[RoutedContact, _Mapping]]] = ...) -> None: ...
