// ListObjectsV2, ListObjects (V1, which `aws s3 ls` and older tools use) and ListObjectVersions.
import { type RequestContext, sendXml } from '../context.ts';
import {
  listParamsOf,
  metadataQueryV1,
  metadataQueryV2,
  metadataQueryVersions,
  renderListV1,
  renderListV2,
  renderListVersions,
} from './list-render.ts';

export async function listObjectsV2(ctx: RequestContext, bucket: string) {
  const params = listParamsOf(bucket, ctx.url.searchParams);
  const result = await ctx.client.listObjects(metadataQueryV2(params));
  sendXml(ctx, 200, renderListV2(params, result, ctx.owner));
}

export async function listObjectsV1(ctx: RequestContext, bucket: string) {
  const params = listParamsOf(bucket, ctx.url.searchParams);
  const result = await ctx.client.listObjects(metadataQueryV1(params));
  sendXml(ctx, 200, renderListV1(params, result, ctx.owner));
}

export async function listObjectVersions(ctx: RequestContext, bucket: string) {
  const params = listParamsOf(bucket, ctx.url.searchParams);
  const result = await ctx.client.listObjectVersions(metadataQueryVersions(params));
  sendXml(ctx, 200, renderListVersions(params, result, ctx.owner));
}
