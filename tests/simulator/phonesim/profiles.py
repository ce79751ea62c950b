"""What a model at a firmware version looks like, read from the recorded answers in ``tests/fixtures`` (the same
files the unit tests' fixture phone serves): answer shapes, login fields, settings wire form, base P-values, aliases,
polarities and firmware image names. The simulator never spells a shape out itself."""

import importlib.util
import os
import sys

FIXTURES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), 'fixtures')


def _load(name):
    """tests/fixtures/<name>.py, by path (it is not a package of the simulator's)."""
    module_name = 'phonesim_fixtures_' + name
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, os.path.join(FIXTURES_DIR, name + '.py'))
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


recorded = _load('recorded')
settings_store = _load('settings_store')

# Firmware image names (cti-api.md section 8), longest model prefix first. The WP8xx name is made up for the simulator
# (nothing public names it): the collection must treat it as unknown.
IMAGE_NAMES = (('GRP2601', 'grp2600fw.bin'), ('GRP2602', 'grp2600fw.bin'), ('GRP2603', 'grp2600fw.bin'),
               ('GRP2604', 'grp2600fw.bin'), ('GRP261', 'grp2610fw.bin'), ('GXP16', 'gxp1600fw.bin'),
               ('GXP2170', 'gxp2170fw.bin'), ('GXP2140', 'gxp2140fw.bin'), ('WP8', 'wp8xx-simfw.bin'))
SIMULATOR_ONLY_IMAGE_SUFFIX = '-simfw.bin'

_templates = {}


def image_name(model):
    """The firmware file a model fetches; an unknown model gets ``<model>-simfw.bin`` (simulator-only)."""
    model = str(model).upper()
    for prefix, name in IMAGE_NAMES:
        if model.startswith(prefix):
            return name
    return model.lower() + SIMULATOR_ONLY_IMAGE_SUFFIX


def _cached(key, make):
    if key not in _templates:
        _templates[key] = make()
    return _templates[key]


def shape_folder(folder, firmware):
    """The recordings whose CTI answer shapes a phone of ``folder`` gives with PhoneSpec ``firmware`` (``doc`` or
    ``new``): its own when they are of that shape, else the reference recording of the shape."""
    return folder if recorded.phone_info(folder)['api_shape'] == firmware else recorded.SHAPE_FOLDERS[firmware]


def account_template(folder):
    """One recorded account (keys in order, typed sample values)."""
    return _cached(('account', folder), lambda: recorded.item_template(folder, 'api-get_accounts'))


def line_template(folder):
    return _cached(('line', folder), lambda: recorded.item_template(folder, 'api-get_line_status'))


def content_type(folder):
    """Content-Type of the recorded JSON answers (``application/json``, ``text/plain;charset=UTF-8``...)."""
    return _cached(('ctype', folder), lambda: recorded.phone_info(folder)['content_type'])


def model_define(folder, model, accounts, lines):
    """/json/configs/model.define.js as recorded, with this phone's model and counts."""
    template = _cached(('model_js', folder), lambda: recorded.recorded_json(folder, 'model.define.js'))
    document = dict(template, model=model)
    document['defines'] = dict(template['defines'], num_accounts=accounts, num_lines=lines)
    return document


def login_template(folder):
    """The body of a successful dologin as recorded (its fields, in order)."""
    return _cached(('login', folder), lambda: recorded.recorded_json(folder, 'dologin')['body'])


class Profile:
    """The recorded facts of the folder a model and version map to (recorded.PROFILES), and its settings wire form
    (``form``, ``json``, or ``none`` when the spec says the phone has no settings endpoints). Shared by every phone of
    that model, version and form: get one with ``profile_for()``, never change it."""

    def __init__(self, model, version, settings_form=None):
        form, self.folder = recorded.profile(model, version)
        self.settings_form = settings_form or form
        self.info = recorded.phone_info(self.folder)
        self.image_name = image_name(model)
        self.aliases = recorded.aliases(self.folder)
        self.bound = dict((item['pvalue'], item['binding']) for item in self.info['settings'] if 'binding' in item)
        self.secrets = settings_store.SECRET_PVALUES | frozenset(self.info.get('secret_pvalues', ()))
        self.read_only = frozenset(self.info.get('read_only_pvalues', ())) | settings_store.READ_ONLY_PVALUES
        self.polarity = self.info.get('polarity', {})
        self.protocol_key = self.info.get('firmware_protocol_key', 'P6767')
        base = recorded.base_settings(self.folder)
        self.base = dict(base)       # every recorded value (a new firmware's keys come from here)
        # The values a phone starts from, without the keys that mirror its state; P1650 as plain HTTP or HTTPS.
        mirrored = [number for number, binding in self.bound.items() if binding != 'web_access']
        self.start = {}
        for tls, meaning in ((False, 'http'), (True, 'https')):
            values = dict((number, value) for number, value in base.items() if number not in mirrored)
            values['1650'] = self.meaning_value('1650', meaning, values.get('1650', ''))
            self.start[tls] = values

    def meaning_value(self, pvalue, meaning, fallback):
        """The value of ``P<pvalue>`` that means ``meaning`` on this line (polarity), e.g. web access ``http``."""
        table = self.polarity.get('P' + pvalue, {})
        return next((value for value, name in table.items() if name == meaning), fallback)

    @property
    def secrets_read_as(self):
        return self.info.get('secrets_read_as', 'empty')

    @property
    def unknown_read_as(self):
        return self.info.get('unknown_key_read_as', 'empty')


def profile_for(model, version, settings_form=None):
    """The shared Profile of a model, version and wire form."""
    return _cached(('profile', str(model), str(version), settings_form), lambda: Profile(model, version, settings_form))
