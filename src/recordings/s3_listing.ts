/**
 * S3's ListObjectsV2 answer (XML), read without an XML library: the objects' keys and ages, and where
 * the next page starts. Only the elements the retention sweep needs; never throws.
 *
 * @module
 */

/** One object of a listing page. */
export interface ListedObject {
  key: string;
  /** `LastModified`, epoch ms (NaN when the store sent none). */
  lastModified: number;
}

/** One page of a ListObjectsV2 listing. */
export interface ListingPage {
  objects: ListedObject[];
  /** The `continuation-token` of the next page, when the listing is truncated. */
  next: string | undefined;
  /** `IsTruncated`: more pages follow. */
  truncated: boolean;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

/** The text of an XML element's content, its entities decoded. */
function xmlText(raw: string): string {
  return raw.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, name: string) => {
    if (name.startsWith("#x")) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith("#")) return String.fromCodePoint(parseInt(name.slice(1), 10));
    return ENTITIES[name] ?? whole;
  });
}

function element(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  return match === null ? undefined : xmlText(match[1]!);
}

/** Reads a `ListBucketResult` (ListObjectsV2) document. */
export function parseListing(xml: string): ListingPage {
  const objects: ListedObject[] = [];
  for (const [, contents] of xml.matchAll(/<Contents>([\s\S]*?)<\/Contents>/g)) {
    const key = element(contents!, "Key");
    if (key === undefined) continue;
    objects.push({ key, lastModified: Date.parse(element(contents!, "LastModified") ?? "") });
  }
  return {
    objects,
    next: element(xml, "NextContinuationToken"),
    truncated: element(xml, "IsTruncated")?.trim() === "true",
  };
}
