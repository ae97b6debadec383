/* S3 volume purge: XML with libxml2. S3's answers are parsed without
 * network access or any DTD (so no entity can be defined) and read
 * through a few element helpers; S3's text is copied into messages as
 * bounded printable ASCII; keys are escaped into the DeleteObjects body. */
#define _GNU_SOURCE
#include "s3_purge_internal.h"

#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

/* Copy S3's text for a message: printable ASCII only, bounded. */
void
s3_clean_text(const char *in, char *out, size_t outlen)
{
	size_t i, o = 0;

	if (outlen == 0)
		return;
	for (i = 0; in && in[i] != '\0' && o + 1 < outlen && i < 200; i++) {
		unsigned char c = (unsigned char)in[i];
		out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	out[o] = '\0';
}

xmlDocPtr
s3_parse_xml(const struct s3_body *b)
{
	xmlDocPtr doc;

	if (b->len == 0 || b->len > (size_t)0x7fffffff)
		return NULL;
	doc = xmlReadMemory(b->p, (int)b->len, "s3-response.xml", NULL,
			    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
				    XML_PARSE_NOBLANKS | XML_PARSE_NOCDATA);
	if (doc == NULL)
		return NULL;
	/* S3 never sends a DTD; refuse any, so no entity can be defined. */
	if (doc->intSubset != NULL || doc->extSubset != NULL || xmlDocGetRootElement(doc) == NULL) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

bool
s3_is_elem(xmlNodePtr n, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE &&
	       xmlStrcmp(n->name, (const xmlChar *)name) == 0;
}

xmlNodePtr
s3_child(xmlNodePtr parent, const char *name)
{
	xmlNodePtr n;

	for (n = parent ? parent->children : NULL; n != NULL; n = n->next)
		if (s3_is_elem(n, name))
			return n;
	return NULL;
}

/* Text of an element into out; returns 0, or -1 if absent or too long. */
int
s3_text_of(xmlNodePtr n, char *out, size_t outlen)
{
	xmlChar *t;
	size_t l;

	if (n == NULL)
		return -1;
	t = xmlNodeGetContent(n);
	if (t == NULL)
		return -1;
	l = strlen((const char *)t);
	if (l >= outlen) {
		xmlFree(t);
		return -1;
	}
	memcpy(out, t, l + 1);
	xmlFree(t);
	return 0;
}

/* XML 1.0 can carry the key? (no control characters but tab/LF/CR) */
bool
s3_xml_safe(const char *k)
{
	for (; *k; k++)
		if ((unsigned char)*k < 0x20 && *k != '\t' && *k != '\n' && *k != '\r')
			return false;
	return true;
}

int
s3_xml_escape_append(struct s3_body *b, const char *s)
{
	for (; *s; s++) {
		const char *r = NULL;
		char one[2] = {*s, 0};
		switch (*s) {
		case '&': r = "&amp;"; break;
		case '<': r = "&lt;"; break;
		case '>': r = "&gt;"; break;
		case '"': r = "&quot;"; break;
		case '\'': r = "&apos;"; break;
		case '\t': r = "&#9;"; break;
		case '\n': r = "&#10;"; break;
		case '\r': r = "&#13;"; break;
		default: r = one;
		}
		if (s3_on_body((char *)r, 1, strlen(r), b) != strlen(r))
			return -1;
	}
	return 0;
}
