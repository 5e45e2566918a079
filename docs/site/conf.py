# Sphinx configuration of the collection's docs site (docs/site/build.sh).
# Based on what `antsibull-docs sphinx-init` writes, with these differences:
# the guides in docs/*.md are read as Markdown (myst-parser), and there is no
# intersphinx: the site builds offline and fetches nothing.

project = 'netsafe.hypervisor'
copyright = 'netsafe.hypervisor developers'
author = 'netsafe.hypervisor developers'

title = 'netsafe.hypervisor'
html_short_title = 'netsafe.hypervisor'
html_title = 'netsafe.hypervisor documentation'

extensions = ['sphinx_antsibull_ext', 'myst_parser']

source_suffix = {
    '.rst': 'restructuredtext',
    '.md': 'markdown',
}

# Anchors for the guides' headings, so links like [x](net_persist.md#formats) resolve.
myst_heading_anchors = 3

pygments_style = 'ansible'
# Code in the guides without a language is shown as it is (the module pages name theirs: yaml+jinja).
highlight_language = 'none'

html_theme = 'sphinx_ansible_theme'
html_show_sphinx = False
html_theme_options = {
    'collapse_navigation': False,
    'navigation_depth': 3,
}
html_context = {
    'display_github': False,
}
display_version = False

html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

default_role = 'any'
nitpicky = True


# Pages of Ansible's own documentation that the generated module pages refer to
# (intersphinx would fetch their inventory; this site is built offline). A label
# in this map becomes a link to docs.ansible.com; any other unresolved reference
# is still a warning, and so an error of the build.
ANSIBLE_DOCS = 'https://docs.ansible.com/projects/ansible/latest/'
ANSIBLE_LABELS = {
    'common_return_values': 'reference_appendices/common_return_values.html',
    'ansible_configuration_settings': 'reference_appendices/config.html',
}


def _ansible_docs_link(app, env, node, contnode):
    target = node.get('reftarget', '')
    page = ANSIBLE_LABELS.get(target)
    if page is None:
        return None
    from docutils import nodes
    ref = nodes.reference('', '', internal=False, refuri=ANSIBLE_DOCS + page)
    ref += contnode
    return ref


def setup(app):
    app.connect('missing-reference', _ansible_docs_link)
